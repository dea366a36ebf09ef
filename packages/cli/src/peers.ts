import { PluglineError } from '@plugline/sdk';

/**
 * Imports an optional peer package (`@plugline/runtime` for install / uninstall / list / config when
 * used as a library, `@plugline/registry` and `@plugline/runtime` for quickstart). Authoring commands
 * (init, pack, dev, publish) never need them, so the CLI does not install them: a missing one is a clear
 * `ERR_NOT_FOUND` saying what to install, not a module-resolution stack trace.
 */
export async function loadPeer<T>(packages: string, command: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') throw error;
    throw new PluglineError('ERR_NOT_FOUND', `plugline ${command} needs ${packages}, which is not installed next to the CLI: npm install ${packages}`, { cause: error });
  }
}

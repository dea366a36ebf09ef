import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { type AnyPlugin, type ConfigSchema, PluglineError } from '@plugline/sdk';

/**
 * Imports a plugin bundle (one ESM file, what `bundlePlugin` makes) in this process and answers its
 * default export: the plugin object. For `plugline dev` and for reading the config schema at pack;
 * the runtime never does this (it runs bundles in its sandbox).
 */
export async function loadPluginBundle(code: string, entryLabel: string): Promise<AnyPlugin> {
  const scratch = await mkdtemp(path.join(tmpdir(), 'plugline-bundle-'));
  try {
    const file = path.join(scratch, 'plugin.mjs');
    await writeFile(file, code);
    const loaded = (await import(pathToFileURL(file).href)) as { default?: AnyPlugin };
    if (!loaded.default || typeof loaded.default !== 'object') {
      throw new PluglineError('ERR_PLUGIN_LOAD', `${entryLabel} has no default export (export default definePlugin({ ... }))`);
    }
    return loaded.default;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** The config schema a plugin's code declares (`definePlugin({ config })`); an empty object schema when it has none. */
export function codeConfigSchema(plugin: AnyPlugin): ConfigSchema {
  return (plugin.config as ConfigSchema | undefined) ?? { type: 'object', properties: {} };
}

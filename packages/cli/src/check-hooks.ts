import { hookNames, PluglineError } from '@plugline/sdk';
import { loadPluginBundle } from './load-bundle.js';

/**
 * Loads a bundle and returns the hooks it defines: what `pack` checks before writing a tarball, so that
 * a plugin whose exports resolve to nothing (a wrong `module.exports`, a default export that is not the
 * plugin) or that fails at load does not pack.
 *
 * Where `@plugline/runtime` is installed (an operator's machine, this monorepo) the bundle is loaded in
 * the runtime's sandbox (a bare isolate, no config, no host services answering, no network), exactly
 * as it will run. Authoring installs do not carry the runtime's native sandbox: there a bundle that
 * imports no isolate module (`plugline:*`) is loaded in this process instead, and one that does is left
 * unchecked, with a progress line saying so.
 *
 * @throws PluglineError ERR_PLUGIN_LOAD when the bundle does not load or defines no hook.
 */
export async function checkHooks(
  code: string,
  label: string,
  options: { isolateImports?: readonly string[]; onProgress?: ((message: string) => void) | undefined } = {},
): Promise<string[]> {
  const runtime = await import('@plugline/runtime').catch((error: unknown) => {
    const missing = (error as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND';
    if (!missing) throw error;
    return undefined;
  });
  let hooks: string[];
  if (runtime) hooks = await sandboxHooks(runtime.PluginSandbox, code, label);
  else if ((options.isolateImports ?? []).length === 0) hooks = await processHooks(code, label);
  else {
    options.onProgress?.(`warning: ${label}'s hooks are not checked: it imports the sandbox's modules and @plugline/runtime is not installed here`);
    return [];
  }
  if (hooks.length === 0) {
    throw new PluglineError(
      'ERR_PLUGIN_LOAD',
      `${label} defines no hook: its exports resolve to nothing (export processEvent, onEvent, exportEvents, composeWebhook, runEvery*, jobs..., or a default export / module.exports object holding them)`,
    );
  }
  return hooks;
}

type Sandbox = typeof import('@plugline/runtime').PluginSandbox;

async function sandboxHooks(PluginSandbox: Sandbox, code: string, label: string): Promise<string[]> {
  const refuse = async () => {
    throw new Error('not available while packing');
  };
  const sandbox = new PluginSandbox({
    name: label,
    version: '0.0.0',
    integrity: `pack:${label}:${code.length}:${Date.now()}`,
    code,
    config: {},
    timeoutMs: 2000,
    host: { sync: () => 'null', async: refuse },
  });
  try {
    await sandbox.start();
  } catch (error) {
    const cause = (error as { cause?: unknown }).cause;
    const reason = cause instanceof Error ? cause.message : (error as Error).message;
    throw new PluglineError('ERR_PLUGIN_LOAD', `${label} does not load in the sandbox: ${reason}`, { cause: error });
  } finally {
    sandbox.dispose();
  }
  return [...sandbox.hooks].sort();
}

/** The hooks of a bundle loaded in this process (its default export, as a Plugline plugin has it). */
async function processHooks(code: string, label: string): Promise<string[]> {
  const plugin = (await loadPluginBundle(code, label)) as Record<string, unknown>;
  const names: string[] = [...hookNames, 'processEventBatch', 'composeWebhook'];
  const hooks = names.filter((name) => typeof plugin[name] === 'function');
  if (plugin.jobs && typeof plugin.jobs === 'object') hooks.push(...Object.keys(plugin.jobs).map((job) => `jobs.${job}`));
  return hooks.sort();
}

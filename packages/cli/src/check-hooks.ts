import { PluglineError } from '@plugline/sdk';

/**
 * Loads a bundle in the runtime's sandbox (a bare isolate, no config, no host services answering) and
 * returns the hooks it defines: what `pack` checks before writing a tarball, so that a plugin whose
 * exports resolve to nothing (a wrong `module.exports`, a default export that is not the plugin) or
 * that fails at load does not pack. The plugin's top-level code runs, sandboxed, with no network.
 *
 * @throws PluglineError ERR_PLUGIN_LOAD when the bundle does not load or defines no hook.
 */
export async function checkHooks(code: string, label: string): Promise<string[]> {
  const { PluginSandbox } = await import('@plugline/runtime');
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
  const hooks = [...sandbox.hooks].sort();
  if (hooks.length === 0) {
    throw new PluglineError(
      'ERR_PLUGIN_LOAD',
      `${label} defines no hook: its exports resolve to nothing (export processEvent, onEvent, exportEvents, composeWebhook, runEvery*, jobs..., or a default export / module.exports object holding them)`,
    );
  }
  return hooks;
}

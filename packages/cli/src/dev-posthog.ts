import { existsSync } from 'node:fs';
import path from 'node:path';
import type { PluginEvent, PostHogManifest } from '@plugline/sdk';
import { PluglineError, validateConfig } from '@plugline/sdk';
import { bundlePlugin, findEntry } from './bundle.js';
import type { DevOptions, DevResult } from './dev.js';
import { convertForPack } from './posthog.js';

/**
 * `plugline dev` for a PostHog-format plugin: bundled exactly as `pack` bundles it (PostHog's imports,
 * the isolate's `crypto`/`zlib`/`pg`... modules) and run in the runtime's real sandbox, since such a
 * bundle imports the isolate's modules: `setupPlugin`, `processEvent` over the events, `onEvent`, one
 * `exportEvents` batch, the webhooks `composeWebhook` composes (listed in the logs, not sent), then
 * `teardownPlugin`. Storage and cache are in memory; `fetch` is the host's, for real.
 */
export async function runPostHogDev(root: string, original: PostHogManifest, events: PluginEvent[], options: DevOptions): Promise<DevResult> {
  const manifest = convertForPack(original, '0.0.0-dev');
  const postHogEntry = typeof original.main === 'string' && existsSync(path.join(root, original.main)) ? original.main : undefined;
  const entryFile = findEntry(root, options.entry ?? postHogEntry);
  options.onProgress?.(`bundling ${path.relative(root, entryFile)} (PostHog format)`);
  const { code, warnings } = await bundlePlugin(root, entryFile, { posthog: true });
  for (const warning of warnings) options.onProgress?.(`warning: ${warning}`);
  const { value: config, errors: configErrors } = validateConfig(manifest.config, options.config ?? {});
  if (!config) throw new PluglineError('ERR_CONFIG_INVALID', `the config is invalid: ${configErrors.join('; ')}`, { details: configErrors });
  const { MemoryCache, PluginSandbox, createSandboxHost, parseLineBatch } = await import('@plugline/runtime');
  const logs: DevResult['logs'] = [];
  const errors: DevResult['errors'] = [];
  const storage = new Map<string, unknown>();
  const host = createSandboxHost({
    sink: { log: (level, message, fields) => logs.push(fields ? { level, message, fields } : { level, message }), metric: () => {} },
    storage: { get: (key) => (storage.get(key) ?? null) as never, set: (key, value) => void storage.set(key, value), del: (key) => void storage.delete(key) },
    cache: new MemoryCache(),
    postgres: (manifest.capabilities ?? []).includes('postgres'),
    capture: (event) => logs.push({ level: 'info', message: `posthog.capture ${String(event.event)}`, fields: event }),
    enqueueJob: (name, payload, delayMs) => logs.push({ level: 'info', message: `job ${name} scheduled in ${delayMs} ms`, fields: { payload } }),
  });
  const sandbox = new PluginSandbox({ name: manifest.name, version: manifest.version, integrity: `dev:${Date.now()}`, code, config, capabilities: manifest.capabilities ?? [], host, timeoutMs: 5000 });
  const hookError = (hook: string, failure: { message: string; errorName: string } | null) => {
    if (failure) errors.push({ code: 'ERR_PLUGIN_THREW', message: `${hook}: ${failure.errorName}: ${failure.message}` });
  };
  const out: PluginEvent[] = [];
  const dropped: DevResult['dropped'] = [];
  try {
    await sandbox.start();
    options.onProgress?.(`running ${manifest.name} (hooks: ${[...sandbox.hooks].join(', ') || 'none'}) over ${events.length} event(s)`);
    if (sandbox.hooks.has('setupPlugin')) hookError('setupPlugin', await sandbox.callHook('setupPlugin'));
    const { outcomes, output } = await sandbox.processBatch(JSON.stringify(events), events.length);
    const processed = parseLineBatch(output) as (PluginEvent | null)[];
    processed.forEach((event, index) => {
      const outcome = outcomes[index];
      if (outcome !== undefined && typeof outcome === 'object') errors.push({ code: 'ERR_PLUGIN_THREW', message: `processEvent ${events[index]!.uuid}: ${outcome.errorName}: ${outcome.message}` });
      if (event === null) dropped.push({ uuid: events[index]!.uuid, event: events[index]!.event, by: manifest.name });
      else out.push(event);
    });
    if (sandbox.hooks.has('onEvent')) {
      for (const failure of await sandbox.onEventBatch(JSON.stringify(out), out.length)) errors.push({ code: 'ERR_PLUGIN_THREW', message: `onEvent: ${failure.errorName}: ${failure.message}` });
    }
    if (sandbox.hooks.has('composeWebhook')) {
      for (const composed of await sandbox.composeWebhooks(JSON.stringify(out), out.length)) {
        if (composed === null) continue;
        if ('error' in composed) errors.push({ code: 'ERR_PLUGIN_THREW', message: `composeWebhook: ${composed.error.errorName}: ${composed.error.message}` });
        else logs.push({ level: 'info', message: `webhook ${composed.webhook.method} ${composed.webhook.url} (not sent by dev)`, fields: composed.webhook });
      }
    }
    if (sandbox.hooks.has('exportEvents') && out.length > 0) hookError('exportEvents', await sandbox.callHook('exportEvents', [out]));
    if (sandbox.hooks.has('teardownPlugin')) hookError('teardownPlugin', await sandbox.callHook('teardownPlugin'));
  } finally {
    sandbox.dispose();
  }
  return { plugin: `${manifest.name}@${manifest.version}`, events: out, dropped, errors, logs };
}

import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { type AnyPlugin, type PluginEvent, type PluginGeoIp, PluglineError } from '@plugline/sdk';
import { createEvent, createMeta, runChain, type TestMeta } from '@plugline/sdk/testing';
import { bundlePlugin, findEntry } from './bundle.js';
import { codeConfigSchema, loadPluginBundle } from './load-bundle.js';
import { runPostHogDev } from './dev-posthog.js';
import { readManifest, readPostHogManifest } from './pack.js';

/** The events `plugline dev` runs when no `--events` file is given: a page view, a sign-up and an identify. */
export const sampleEvents: readonly PluginEvent[] = [
  {
    uuid: '0190c0de-0000-7000-8000-000000000001',
    event: '$pageview',
    distinct_id: 'user-1',
    timestamp: '2026-01-01T00:00:00.000Z',
    ip: '8.8.8.8',
    properties: { $current_url: 'https://example.com/pricing?utm_campaign=launch', $browser: 'Firefox' },
  },
  {
    uuid: '0190c0de-0000-7000-8000-000000000002',
    event: 'signed_up',
    distinct_id: 'user-1',
    timestamp: '2026-01-01T00:01:00.000Z',
    properties: { plan: 'pro', price: 49, currency: 'EUR' },
  },
  {
    uuid: '0190c0de-0000-7000-8000-000000000003',
    event: '$identify',
    distinct_id: 'user-2',
    timestamp: '2026-01-01T00:02:00.000Z',
    properties: { email: 'someone@example.com' },
    $set: { email: 'someone@example.com' },
  },
];

/** Options of {@link runDev}. */
export interface DevOptions {
  /** Events to run (partial events are completed with defaults); default {@link sampleEvents}. */
  events?: readonly Partial<PluginEvent>[];
  /** The plugin's config (validated against its schema; defaults applied). */
  config?: Record<string, unknown>;
  /** The source entry, relative to the folder. */
  entry?: string;
  onProgress?: (message: string) => void;
}

/** What {@link runDev} printed: the chain's output, drops, errors and the plugin's log lines. */
export interface DevResult {
  plugin: string;
  events: PluginEvent[];
  dropped: { uuid: string; event: string; by: string }[];
  errors: { code: string; message: string }[];
  logs: { level: string; message: string; fields?: Record<string, unknown> }[];
}

/**
 * Runs the plugin in a folder over events with the SDK harness (`runChain`): setup, the
 * `processEvent` chain, `onEvent`, one `exportEvents` batch, teardown. The code is bundled exactly as
 * `pack` bundles it, so a forbidden import fails here too.
 *
 * @example
 * ```ts
 * const { events } = await runDev('.', { config: { greeting: 'hi' } });
 * ```
 */
export async function runDev(dir: string, options: DevOptions = {}): Promise<DevResult> {
  const root = path.resolve(dir);
  // A PostHog-format plugin runs in the runtime's sandbox (its bundle imports the isolate's modules).
  const original = await readPostHogManifest(root);
  if (original) return runPostHogDev(root, original, (options.events ?? sampleEvents).map((event) => createEvent(event)), options);
  const entryFile = findEntry(root, options.entry);
  options.onProgress?.(`bundling ${path.relative(root, entryFile)}`);
  const { code } = await bundlePlugin(root, entryFile);
  const plugin = await loadPluginBundle(code, path.relative(root, entryFile));
  const manifest = await readManifest(root, { codeConfig: async () => codeConfigSchema(plugin) });
  // The manifest's schema is what the runtime validates configs against.
  const withSchema: AnyPlugin = { ...plugin, config: manifest.config };
  const input = (options.events ?? sampleEvents).map((event) => createEvent(event));
  options.onProgress?.(`running ${manifest.name}@${manifest.version} over ${input.length} event(s)`);
  const meta = createMeta({ geoip: await hostGeoIp() });
  const result = await runChain(
    [{ plugin: withSchema, name: manifest.name, version: manifest.version, config: options.config ?? {}, meta: meta as TestMeta<never, never> }],
    input,
  );
  return {
    plugin: `${manifest.name}@${manifest.version}`,
    events: result.events,
    dropped: result.dropped.map(({ event, by }) => ({ uuid: event.uuid, event: event.event, by })),
    errors: result.errors.map((error) => ({ code: error.code, message: error.message })),
    logs: [...result.metas.values()].flatMap((meta) => meta.logs),
  };
}

/**
 * Reads a JSON file of events for `plugline dev --events`: an array of (partial) events, or
 * `{ "events": [...] }`.
 *
 * @throws PluglineError ERR_PAYLOAD_INVALID when it is not that.
 */
export async function readEventsFile(file: string): Promise<Partial<PluginEvent>[]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new PluglineError('ERR_PAYLOAD_INVALID', `cannot read events from ${file}: ${(error as Error).message}`);
  }
  const list = Array.isArray(parsed) ? parsed : (parsed as { events?: unknown } | null)?.events;
  if (!Array.isArray(list) || list.some((event) => typeof event !== 'object' || event === null || Array.isArray(event))) {
    throw new PluglineError('ERR_PAYLOAD_INVALID', `${file} must hold an array of event objects (or { "events": [...] })`);
  }
  return list as Partial<PluginEvent>[];
}

/**
 * The runtime's GeoIP lookup (the database it ships), so `dev` shows what a geo plugin does in the
 * runtime; every address is unknown when the runtime package is not installed next to the CLI.
 */
async function hostGeoIp(): Promise<PluginGeoIp> {
  try {
    const { locateIp } = await import('@plugline/runtime');
    return { locate: async (ip) => locateIp(ip) };
  } catch {
    return { locate: async () => null };
  }
}

// The chain's dry run against a real registry, a real runtime on port 0 and a real HTTP receiver for
// the composed webhook, over HTTP: per-step statuses, masked secrets, and nothing stored, buffered,
// counted or sent.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DryRunResult, PluginDescription } from './index.js';
import { addPlugin } from './project.js';
import { startRuntime } from './server.js';
import { type FixturePlugin, adminFetch, startReceiver, startTestRegistry, testAdminToken, waitFor } from './test/helpers.js';

const TOKEN = 'tok-thrower-secret-5678';
const HOOK_KEY = 'hook-api-key-secret-9012';
const fixtures: FixturePlugin[] = [
  { name: 'dr-enricher', code: "export default { processEvent(e) { e.properties.enriched = 'yes'; return e; } };" },
  { name: 'dr-disabled', code: "export default { processEvent(e) { e.properties.disabled = 'ran'; return e; } };" },
  { name: 'dr-broken', code: "export default { setupPlugin() { throw new Error('no database today'); }, processEvent(e) { return e; } };" },
  {
    name: 'dr-thrower',
    config: { type: 'object', properties: { token: { type: 'string', writeOnly: true } }, required: ['token'] },
    code: "export default { processEvent(e, { config }) { if (e.event === 'boom') throw new TypeError('refused with ' + config.token); if (e.event === 'leak') e.properties.leak = 'token=' + config.token; return e; } };",
  },
  { name: 'dr-dropper', code: "export default { processEvent(e) { return e.event === 'drop' ? null : e; } };" },
  { name: 'dr-noop', code: 'export default { processEvent(e) { return e; } };' },
  { name: 'dr-listener', code: 'export default { onEvent() {} };' },
  {
    name: 'dr-exporter',
    config: { type: 'object', properties: { exportEventsToIgnore: { type: 'string' } } },
    code: 'export default { async exportEvents() {} };',
  },
  {
    name: 'dr-hook',
    config: { type: 'object', properties: { url: { type: 'string' }, apiKey: { type: 'string', writeOnly: true } }, required: ['url', 'apiKey'] },
    code: `export function composeWebhook(event, { config }) {
      if (event.event === 'quiet') return null;
      return { url: config.url, method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer ' + config.apiKey }, body: JSON.stringify({ uuid: event.uuid, key: config.apiKey }) };
    }`,
  },
];

const silent = pino({ level: 'silent' });
let registry: Awaited<ReturnType<typeof startTestRegistry>>;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let running: Awaited<ReturnType<typeof startRuntime>>;
let url: string;
const cleanup: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  registry = await startTestRegistry(fixtures);
  receiver = await startReceiver();
  const dir = await mkdtemp(join(tmpdir(), 'plugline-dry-run-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  const add = (name: string, options: { config?: Record<string, unknown>; enabled?: boolean; grants?: string[] } = {}) => addPlugin(dir, { name, registryUrl: registry.url, ...options });
  await add('dr-enricher');
  await add('dr-disabled', { enabled: false });
  await add('dr-broken');
  await add('dr-thrower', { config: { token: TOKEN } });
  await add('dr-dropper');
  await add('dr-noop');
  await add('dr-listener');
  await add('dr-exporter', { config: { exportEventsToIgnore: 'ignored' } });
  await add('dr-hook', { config: { url: `${receiver.url}/hook`, apiKey: HOOK_KEY }, grants: [`net:${new URL(receiver.url).host}`] });
  running = await startRuntime({ dir, port: 0, adminToken: testAdminToken, logger: silent, schedule: false, exportTickMs: 20, webhookRetry: { attempts: 1, delaysMs: [] } });
  cleanup.push(() => running.close());
  url = running.url;
});
afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
  await receiver?.close();
  await registry?.close();
});

const dryRun = async (body: unknown, headers: Record<string, string> = {}, token?: string) => {
  const init = { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) };
  const response = token === '' ? await fetch(`${url}/api/chain/dry-run`, init) : await adminFetch(`${url}/api/chain/dry-run`, init, token);
  return { status: response.status, body: (await response.json()) as DryRunResult & { error?: { code: string; message: string } } };
};
const plugins = async () => ((await (await adminFetch(`${url}/api/plugins`)).json()) as { plugins: PluginDescription[] }).plugins;
const storedCount = async () => ((await (await adminFetch(`${url}/api/events?limit=10000`)).json()) as { count: number }).count;
const label = (name: string) => `${name} (1.0.0)`;
/** What a dry run must leave alone: stats, errors, export buffers and batches, delivery progress. */
const counters = async () => (await plugins()).map(({ name, stats, errors, recentErrors, exportBuffer, pendingExportBatches, delivery }) => ({ name, stats, errors, recentErrors, exportBuffer, pendingExportBatches, delivery }));

describe('POST /api/chain/dry-run', () => {
  it('shows what each plugin does to an event, the webhook it would send (secret masked) and who would export it; nothing happens', async () => {
    const before = await counters();
    const eventsBefore = await storedCount();

    const ok = await dryRun({ event: { event: 'ok', distinct_id: 'u1', properties: { a: 1 }, timestamp: 1767225600000 } });
    expect(ok.status).toBe(200);
    const answer = ok.body;
    // Normalised as capture does: a uuid, the timestamp as ISO 8601, no $ip (the caller is not a client).
    expect(answer.input).toEqual({ uuid: expect.any(String), event: 'ok', distinct_id: 'u1', properties: { a: 1 }, timestamp: '2026-01-01T00:00:00.000Z' });
    expect(answer.steps.map((step) => [step.plugin, step.status, step.reason])).toEqual([
      ['dr-enricher', 'changed', undefined],
      ['dr-disabled', 'skipped', 'disabled'],
      ['dr-broken', 'skipped', 'error'],
      ['dr-thrower', 'unchanged', undefined],
      ['dr-dropper', 'unchanged', undefined],
      ['dr-noop', 'unchanged', undefined],
      ['dr-listener', 'skipped', 'no processEvent'],
      ['dr-exporter', 'skipped', 'no processEvent'],
      ['dr-hook', 'skipped', 'no processEvent'],
    ]);
    const [enricher, disabled] = answer.steps;
    expect(enricher).toMatchObject({ version: '1.0.0', before: { properties: { a: 1 } }, after: { properties: { a: 1, enriched: 'yes' } } });
    expect(enricher!.before!.properties).not.toHaveProperty('enriched');
    expect(enricher!.durationMs).toBeGreaterThan(0);
    expect(disabled).toMatchObject({ before: { properties: { enriched: 'yes' } }, after: { properties: { enriched: 'yes' } }, durationMs: 0 });
    expect(answer.output).toEqual({
      ...answer.input,
      properties: { a: 1, enriched: 'yes', $plugins_succeeded: ['dr-enricher', 'dr-thrower', 'dr-dropper', 'dr-noop'].map(label) },
    });
    expect(answer.webhooks).toEqual([
      {
        plugin: 'dr-hook',
        request: {
          url: `${receiver.url}/hook`,
          method: 'POST',
          headers: { 'content-type': 'application/json', authorization: 'Bearer ********' },
          body: JSON.stringify({ uuid: answer.input.uuid, key: '********' }),
        },
      },
    ]);
    expect(answer.exports).toEqual(['dr-listener', 'dr-exporter']);
    expect(answer.duplicate).toBe(false);
    expect(answer.note).toMatch(/fetch.*posthog\.capture/);
    expect(JSON.stringify(answer)).not.toContain(HOOK_KEY);

    const boom = (await dryRun({ event: { event: 'boom', distinct_id: 'u2' } })).body;
    const thrower = boom.steps.find((step) => step.plugin === 'dr-thrower')!;
    expect(thrower).toMatchObject({ status: 'failed', error: { code: 'ERR_PLUGIN_THREW', message: expect.stringContaining('TypeError: refused with ********') } });
    expect(thrower.after).toEqual(thrower.before);
    expect(boom.steps.find((step) => step.plugin === 'dr-noop')!.status).toBe('unchanged');
    expect(boom.output!.properties).toMatchObject({ $plugins_failed: [label('dr-thrower')], $plugins_succeeded: ['dr-enricher', 'dr-dropper', 'dr-noop'].map(label) });
    expect(JSON.stringify(boom)).not.toContain(TOKEN);

    // A plugin that writes its secret into the event: masked in its step, in the next steps and in the output.
    const leak = (await dryRun({ event: { event: 'leak', distinct_id: 'u7' } })).body;
    expect(leak.steps.find((step) => step.plugin === 'dr-thrower')).toMatchObject({ status: 'changed', after: { properties: { leak: 'token=********' } } });
    expect(leak.steps.find((step) => step.plugin === 'dr-noop')!.before!.properties.leak).toBe('token=********');
    expect(leak.output!.properties.leak).toBe('token=********');
    expect(leak.webhooks[0]!.request!.body).toContain('"key":"********"');
    expect(JSON.stringify(leak)).not.toContain(TOKEN);

    const dropped = (await dryRun({ event: { event: 'drop', distinct_id: 'u3' } })).body;
    expect(dropped.steps.slice(4).map((step) => [step.plugin, step.status, step.reason ?? null, step.before, step.after])).toEqual([
      ['dr-dropper', 'dropped', null, expect.objectContaining({ event: 'drop' }), null],
      ['dr-noop', 'skipped', 'dropped earlier', null, null],
      ['dr-listener', 'skipped', 'no processEvent', null, null],
      ['dr-exporter', 'skipped', 'no processEvent', null, null],
      ['dr-hook', 'skipped', 'no processEvent', null, null],
    ]);
    expect(dropped).toMatchObject({ output: null, webhooks: [], exports: [] });

    // exportEventsToIgnore holds, and a composeWebhook that composes nothing shows no request.
    expect((await dryRun({ event: { event: 'ignored', distinct_id: 'u4' } })).body.exports).toEqual(['dr-listener']);
    expect((await dryRun({ event: { event: 'quiet', distinct_id: 'u5' } })).body.webhooks).toEqual([]);
    // The Runtime API answers the same way.
    const direct = await running.runtime.dryRun({ event: { event: 'ok', distinct_id: 'u6' } });
    expect(direct.steps[0]).toMatchObject({ plugin: 'dr-enricher', status: 'changed' });

    // Nothing was stored, buffered, counted, retried or sent.
    await running.runtime.settle();
    expect(await storedCount()).toBe(eventsBefore);
    expect(await counters()).toEqual(before);
    expect(running.runtime.store.pendingRetries()).toEqual([]);

    // A real event is: the receiver gets its webhook, and only its webhook.
    const uuid = randomUUID();
    const captured = await fetch(`${url}/capture`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ uuid, event: 'ok', distinct_id: 'real' }) });
    expect(captured.status).toBe(200);
    await waitFor(() => receiver.received.length > 0);
    await running.runtime.settle();
    expect(receiver.received.map((entry) => (entry.body as { uuid: string }).uuid)).toEqual([uuid]);
    expect(await storedCount()).toBe(eventsBefore + 1);
    const after = await counters();
    expect(after.find((plugin) => plugin.name === 'dr-enricher')!.stats).toMatchObject({ eventsIn: 1, eventsOut: 1 });
    expect(after.find((plugin) => plugin.name === 'dr-exporter')!.exportBuffer).not.toEqual(before.find((plugin) => plugin.name === 'dr-exporter')!.exportBuffer);

    // The stored event by uuid: the chain as it runs now, flagged as a duplicate a real capture would skip.
    const again = (await dryRun({ uuid })).body;
    expect(again.input).toMatchObject({ uuid, event: 'ok', distinct_id: 'real', properties: { enriched: 'yes' } });
    expect(again.input.properties).not.toHaveProperty('$plugins_succeeded');
    expect(again.steps[0]).toMatchObject({ plugin: 'dr-enricher', status: 'unchanged' });
    expect(again.duplicate).toBe(true);
    expect(await storedCount()).toBe(eventsBefore + 1);
  });

  it('needs the admin token, refuses cross-site requests, bad bodies and unknown uuids', async () => {
    const event = { event: { event: 'ok', distinct_id: 'u' } };
    expect((await dryRun(event, {}, '')).status).toBe(401);
    expect((await dryRun(event, {}, 'wrong-token-of-some-length')).status).toBe(401);
    const crossSite = await dryRun(event, { 'sec-fetch-site': 'cross-site' });
    expect(crossSite.status).toBe(403);
    expect(crossSite.body.error!.code).toBe('ERR_FORBIDDEN');
    expect((await dryRun(event, { origin: 'https://evil.example' })).status).toBe(403);
    expect((await dryRun(event, { 'sec-fetch-site': 'same-origin' })).status).toBe(200);

    for (const body of [{}, { event: 'ok' }, { event: [{ event: 'ok', distinct_id: 'u' }] }, { event: { batch: [] } }, { uuid: 7 }, { uuid: 'x', event: { event: 'ok', distinct_id: 'u' } }, [1], '{"event":']) {
      const refused = await dryRun(body);
      expect(refused.status, JSON.stringify(body)).toBe(400);
      expect(refused.body.error!.code).toBe('ERR_BAD_REQUEST');
    }
    const malformed = await dryRun({ event: { distinct_id: 'u' } });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error).toMatchObject({ code: 'ERR_PAYLOAD_INVALID', message: expect.stringContaining('"event" must be a non-empty string') });
    // Past the per-event limit (1 MiB of JSON): refused as capture refuses it; a body past the limit is not even read.
    const tooLarge = await dryRun({ event: { event: 'big', distinct_id: 'u', properties: { blob: 'x'.repeat(1024 * 1024 + 10) } } });
    expect(tooLarge.status).toBe(400);
    expect(tooLarge.body.error).toMatchObject({ code: 'ERR_PAYLOAD_INVALID', message: expect.stringContaining('the limit is 1048576') });
    const tooLong = await dryRun({ event: { event: 'big', distinct_id: 'u', properties: { blob: 'x'.repeat(2 * 1024 * 1024) } } });
    expect(tooLong.status).toBe(413);
    const unknown = await dryRun({ uuid: randomUUID() });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error!.code).toBe('ERR_NOT_FOUND');
  });
});

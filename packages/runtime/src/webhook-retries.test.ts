// composeWebhook deliveries ride out an outage like export batches (durable-retry.ts), against the real
// runtime, registry and an HTTP receiver on loopback: nothing is dead-lettered during the outage, every
// webhook arrives once the receiver answers again, a retry pending when the runtime stops is
// delivered by the next one, and a refused webhook is a dead letter that can be replayed.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PluginEvent } from '@plugline/sdk';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRuntime } from './index.js';
import { addPlugin, readProject, writeProject } from './project.js';
import { adminFetch, type FixturePlugin, startReceiver, startTestRegistry, testAdminToken, waitFor } from './test/helpers.js';

// PostHog's destination API: one request per event, composed in the isolate, sent by the host.
const composer: FixturePlugin = {
  name: 'hook-composer',
  config: { type: 'object', properties: { url: { type: 'string' } }, required: ['url'] },
  code: `export function composeWebhook(event, { config }) {
    return { url: config.url, method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ uuid: event.uuid }) };
  }`,
};
// The same with a secret in the request (a token the receiver checks).
const secretComposer: FixturePlugin = {
  name: 'secret-composer',
  config: { type: 'object', properties: { url: { type: 'string' }, token: { type: 'string', writeOnly: true } }, required: ['url', 'token'] },
  code: `export function composeWebhook(event, { config }) {
    return { url: config.url, method: 'POST', headers: { 'content-type': 'application/json', authorization: 'Bearer ' + config.token }, body: JSON.stringify({ uuid: event.uuid, token: config.token }) };
  }`,
};
// Immediate retries off, a short durable schedule: 50 ms doubling to 200 ms for a minute.
const schedule = { exportBackoffBaseMs: 50, exportBackoffMaxMs: 200, exportRetryWindowMs: 60_000 };

let registry: Awaited<ReturnType<typeof startTestRegistry>>;
const cleanup: (() => Promise<unknown>)[] = [];
beforeAll(async () => {
  registry = await startTestRegistry([composer, secretComposer]);
});
afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
  await registry?.close();
});

const events = (count: number): PluginEvent[] =>
  Array.from({ length: count }, (_, i) => ({ uuid: randomUUID(), event: `hook${i}`, distinct_id: `p${i}`, properties: {}, timestamp: new Date().toISOString() }));

async function project(url: string, plugin: { name: string; config?: Record<string, unknown> } = { name: 'hook-composer' }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'plugline-webhook-retries-'));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  // The receiver is a local test server: loopback is granted (the egress policy refuses it by default).
  await addPlugin(dir, { name: plugin.name, config: { url, ...plugin.config }, registryUrl: registry.url, grants: ['net:127.0.0.1'] });
  const written = await readProject(dir);
  for (const entry of written.plugins) entry.settings = schedule;
  await writeProject(dir, written);
  return dir;
}

const start = (dir: string) =>
  startRuntime({ dir, port: 0, adminToken: testAdminToken, logger: pino({ level: 'silent' }), schedule: false, exportTickMs: 20, webhookRetry: { attempts: 1, delaysMs: [] } });

const delivered = (receiver: Awaited<ReturnType<typeof startReceiver>>) =>
  new Set(receiver.received.filter((entry) => entry.status < 300).map((entry) => (entry.body as { uuid: string }).uuid));

describe('composeWebhook deliveries are durable', () => {
  it('retries through an outage with nothing dead-lettered, then delivers every webhook', async () => {
    let down = true;
    const receiver = await startReceiver(() => (down ? 503 : 200));
    cleanup.push(() => receiver.close());
    const running = await start(await project(`${receiver.url}/hook`));
    cleanup.push(() => running.close());
    const sent = events(5);
    await running.runtime.ingest(sent);
    // Failing for a while: every webhook is tried more than once, and none gives up.
    await waitFor(() => receiver.received.length >= 15, 20_000);
    expect(running.runtime.store.deadLetters()).toEqual([]);
    expect(running.runtime.deliveryProgress().find((row) => row.plugin === 'hook-composer')?.pendingRetries).toBe(5);
    down = false;
    await waitFor(() => delivered(receiver).size === 5, 20_000);
    expect([...delivered(receiver)].sort()).toEqual(sent.map((event) => event.uuid).sort());
    expect(running.runtime.store.deadLetters()).toEqual([]);
  });

  it('a retry pending when the runtime stops is delivered by the next runtime on the same folder', async () => {
    let down = true;
    const receiver = await startReceiver(() => (down ? 503 : 200));
    cleanup.push(() => receiver.close());
    const dir = await project(`${receiver.url}/hook`);
    const first = await start(dir);
    const [event] = events(1);
    await first.runtime.ingest([event!]);
    await waitFor(() => first.runtime.deliveryProgress().find((row) => row.plugin === 'hook-composer')?.pendingRetries === 1, 20_000);
    await first.close();
    down = false;
    const second = await start(dir);
    cleanup.push(() => second.close());
    await waitFor(() => delivered(receiver).has(event!.uuid), 20_000);
    // The receiver has the request before the runtime has read its answer and closed the retry.
    await waitFor(() => second.runtime.deliveryProgress().find((row) => row.plugin === 'hook-composer')?.pendingRetries === 0);
  });

  it('a refused webhook (4xx) is kept as a dead letter, its secrets masked when read back, and delivered when replayed', async () => {
    let status = 400;
    const receiver = await startReceiver(() => status);
    cleanup.push(() => receiver.close());
    const token = 'tok-live-7d1f3a9c';
    const running = await start(await project(`${receiver.url}/hook`, { name: 'secret-composer', config: { token } }));
    cleanup.push(() => running.close());
    const [event] = events(1);
    await running.runtime.ingest([event!]);
    const [letter] = await waitFor(() => (running.runtime.store.deadLetters().length > 0 ? running.runtime.store.deadLetters() : undefined), 20_000);
    expect(letter).toMatchObject({ plugin: 'secret-composer', hook: 'composeWebhook', code: 'ERR_RETRY_FAILED', attempts: 1 });
    expect(letter!.reason).toContain('answered 400');
    // Read back through the API: the stored request's secret is masked wherever it appears.
    const answer = (await (await adminFetch(`${running.url}/api/dead-letters?events=1`)).json()) as { deadLetters: { id: number; events: unknown }[] };
    const text = JSON.stringify(answer);
    expect(text).not.toContain(token);
    expect(text).toContain('Bearer ********');
    expect(answer.deadLetters[0]!.events).toMatchObject({ url: `${receiver.url}/hook`, method: 'POST' });
    status = 200;
    expect((await adminFetch(`${running.url}/api/dead-letters/${letter!.id}/replay`, { method: 'POST' })).status).toBe(202);
    await waitFor(() => delivered(receiver).has(event!.uuid), 20_000);
    // The replayed request is the stored one, secret and all.
    expect(receiver.received.find((entry) => entry.status === 200)?.body).toEqual({ uuid: event!.uuid, token });
    expect(running.runtime.store.deadLetters()).toEqual([]);
    await waitFor(() => running.runtime.store.pendingRetries().length === 0);
  });
});

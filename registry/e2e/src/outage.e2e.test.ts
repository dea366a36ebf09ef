// Exports that ride out outages (issue #16), against real destinations: an HTTP receiver that fails for a
// while (503, then refused connections), s3rver behind a proxy that fails (503 SlowDown, then dropped
// sockets), the machine's PostgreSQL while this test terminates its own connections again and again,
// and a `plugline-runtime` child process SIGKILLed while batches wait for a retry. The retry schedule is
// shortened through plugins.json `settings`; everything else is the shipped default (no maxAttempts).
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { type Server, type ServerResponse, createServer, get, request as httpRequest } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { RunningRegistry } from '@plugline/registry';
import { type RunningRuntime, addPlugin, readProject, startRuntime, writeProject } from '@plugline/runtime';
import type { PluginEvent } from '@plugline/sdk';
import pg from 'pg';
import { pino } from 'pino';
import S3rver from 's3rver';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registryWithPlugins, waitFor } from './harness.js';

// The runtimes' management routes (/api/*, /metrics) need their admin token; every runtime here has this one.
const runtimeToken = 'outage-runtime-admin-token';
const authorized = { headers: { authorization: `Bearer ${runtimeToken}` } };

const names = ['webhook-export', 's3-export', 'postgres-export'] as const;
type ExporterName = (typeof names)[number];
const adminToken = 'outage-admin-token-0123456789abcdef';
const secret = 'whsec_outage';
const runId = randomBytes(4).toString('hex');
const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const table = `plugline_outage_${process.pid}_${runId}`;
/** Set on the export's own connections, so that only they are terminated (never other users'). */
const appName = `plugline_outage_${runId}`;
const silent = pino({ level: 'silent' });
const mainScript = path.join(path.dirname(createRequire(import.meta.url).resolve('@plugline/runtime/package.json')), 'dist', 'main.js');

/**
 * The retry schedule of every runtime in this file, shortened: 100 ms doubling to 800 ms, for 2 minutes.
 * (The shipped default is 1 s doubling to 10 min, for 4 hours.) No attempt cap is set: the window decides.
 */
const exportSettings = { exportMaxAgeMs: 100, exportMaxEvents: 25, exportBackoffBaseMs: 100, exportBackoffMaxMs: 800, exportRetryWindowMs: 120_000 };

let root: string;
let registry: RunningRegistry;
const cleanup: (() => Promise<unknown>)[] = [];

/**
 * The one place where this file's runtime projects are made: each exporter with its config and the
 * shortened schedule. (Per-plugin grants, e.g. for loopback destinations, belong here too.)
 */
const localGrants = ['net:127.0.0.1', 'postgres'];

async function project(plugins: { name: ExporterName; config: Record<string, unknown> }[]): Promise<string> {
  const dir = await mkdtemp(path.join(root, 'runtime-'));
  // The destinations are local test servers: loopback must be granted (the egress policy refuses it by default).
  for (const plugin of plugins) await addPlugin(dir, { name: plugin.name, spec: '^1.0.0', config: plugin.config, registryUrl: registry.url, grants: localGrants });
  const written = await readProject(dir);
  for (const entry of written.plugins) entry.settings = { ...entry.settings, ...exportSettings };
  await writeProject(dir, written);
  return dir;
}

function makeEvents(count: number, tag: string): PluginEvent[] {
  return Array.from({ length: count }, (_, index) => ({
    uuid: randomUUID(),
    event: `${tag}_${index}`,
    distinct_id: `person-${index % 7}`,
    properties: { tag, index },
    timestamp: new Date().toISOString(),
  }));
}

async function post(url: string, batch: PluginEvent[]): Promise<void> {
  const response = await fetch(`${url}/batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ batch }) });
  expect(response.status).toBe(200);
}

async function getJson<T>(url: string): Promise<T> {
  const response = await fetch(url, authorized);
  expect(response.status).toBe(200);
  return (await response.json()) as T;
}

interface Delivery {
  plugin: string;
  bufferedEvents: number;
  pendingBatches: number;
  batchesInRetry: number;
  nextBatchAttemptAt: number | null;
  deadLetters: number;
}
const deliveryOf = async (url: string, plugin: ExporterName) => (await getJson<{ plugins: Delivery[] }>(`${url}/api/delivery`)).plugins.find((row) => row.plugin === plugin)!;
const deadLetters = async (url: string) => (await getJson<{ deadLetters: unknown[] }>(`${url}/api/dead-letters`)).deadLetters;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Posts `rounds` batches of `size` events, `everyMs` apart, checking each time that nothing was dead-lettered. */
async function postDuringOutage(url: string, rounds: number, size: number, everyMs: number, tag: string): Promise<PluginEvent[]> {
  const sent: PluginEvent[] = [];
  for (let round = 0; round < rounds; round += 1) {
    const batch = makeEvents(size, `${tag}${round}`);
    await post(url, batch);
    sent.push(...batch);
    expect(await deadLetters(url)).toEqual([]);
    await sleep(everyMs);
  }
  return sent;
}

/** A webhook receiver: `503`, `down` (its port refuses connections) or `ok`; records every delivered uuid and idempotency key. */
async function startWebhookReceiver() {
  let mode: 'ok' | '503' | 'down' = 'ok';
  const delivered = new Map<string, number>();
  const keys = new Map<string, number>();
  let requests = 0;
  const handler = (incoming: import('node:http').IncomingMessage, outgoing: ServerResponse) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      requests += 1;
      if (mode !== 'ok') {
        outgoing.writeHead(503).end('try later');
        return;
      }
      const { events } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { events: PluginEvent[] };
      for (const event of events) delivered.set(event.uuid, (delivered.get(event.uuid) ?? 0) + 1);
      const key = String(incoming.headers['idempotency-key']);
      keys.set(key, (keys.get(key) ?? 0) + 1);
      outgoing.writeHead(200).end('ok');
    });
  };
  let server: Server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return {
    url: `http://127.0.0.1:${port}/hook`,
    delivered,
    keys,
    requests: () => requests,
    async set(next: 'ok' | '503' | 'down') {
      if (mode === 'down' && next !== 'down') {
        server = createServer(handler);
        await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
      } else if (next === 'down' && mode !== 'down') await close();
      mode = next;
    },
    close: () => (mode === 'down' ? Promise.resolve() : close()),
  };
}

/** `plugline-runtime` as a child process on `dir`; resolves with its URL once it listens. */
async function startChild(dir: string) {
  const env: Record<string, string | undefined> = { ...process.env, PLUGLINE_RUNTIME_DIR: dir, PLUGLINE_RUNTIME_ADMIN_TOKEN: runtimeToken, PLUGLINE_RUNTIME_PORT: '0', LOG_LEVEL: 'info', REDIS_URL: '' };
  delete env.PLUGLINE_SOURCE;
  delete env.PLUGLINE_DATA_DIR;
  const child: ChildProcess = spawn(process.execPath, [mainScript], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let exit: { code: number | null; signal: string | null } | undefined;
  const exited = new Promise<void>((resolve) =>
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      resolve();
    }),
  );
  cleanup.push(async () => {
    child.kill('SIGKILL');
    await exited;
  });
  child.stdout!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    output += chunk.toString();
  });
  const url = await waitFor(
    'the runtime child to listen',
    async () => {
      if (exit) throw new Error(`the runtime exited (${JSON.stringify(exit)}): ${output}`);
      return /"url":"(http:[^"]+)"[^\n]*plugline runtime listening/.exec(output)?.[1];
    },
    20_000,
  );
  return {
    url,
    child,
    exited,
    exit: () => exit,
    output: () => output,
    async kill9() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'plugline-outage-e2e-'));
  registry = await registryWithPlugins({ root, names, adminToken, logger: silent });
}, 120_000);

afterAll(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => undefined);
  await registry?.close();
  await rm(root, { recursive: true, force: true });
});

describe('a webhook that fails for a while', () => {
  it('503 then refused connections for ~4 s: nothing dead-lettered, progress visible, every event delivered after recovery', async () => {
    const receiver = await startWebhookReceiver();
    cleanup.push(() => receiver.close());
    const dir = await project([{ name: 'webhook-export', config: { url: receiver.url, secret } }]);
    const running: RunningRuntime = await startRuntime({ dir, adminToken: runtimeToken, port: 0, logger: silent, schedule: false, exportTickMs: 25 });
    cleanup.push(() => running.close());
    const { url } = running;

    await receiver.set('503');
    const sent = await postDuringOutage(url, 8, 20, 250, 'a');
    await receiver.set('down');
    sent.push(...(await postDuringOutage(url, 8, 20, 250, 'b')));

    // Mid-outage: batches in retry with a next attempt, in /api/delivery, /api/plugins and /metrics.
    const during = await deliveryOf(url, 'webhook-export');
    expect(during.batchesInRetry).toBeGreaterThan(0);
    expect(during.nextBatchAttemptAt).toEqual(expect.any(Number));
    expect(during.deadLetters).toBe(0);
    const described = (await getJson<{ plugins: { name: string; delivery: Delivery }[] }>(`${url}/api/plugins`)).plugins.find((plugin) => plugin.name === 'webhook-export')!;
    expect(described.delivery.batchesInRetry).toBeGreaterThan(0);
    const metrics = await (await fetch(`${url}/metrics`, authorized)).text();
    expect(Number(/plugline_export_batches_in_retry\{plugin="webhook-export"\} (\d+)/.exec(metrics)?.[1])).toBeGreaterThan(0);
    expect(metrics).toMatch(/plugline_export_next_attempt_timestamp_seconds\{plugin="webhook-export"\} \d/);
    expect(metrics).toMatch(/plugline_dead_letters_stored\{plugin="webhook-export"\} 0/);

    await receiver.set('ok');
    await waitFor('every event at the webhook', async () => (sent.every((event) => receiver.delivered.has(event.uuid)) ? true : undefined), 30_000);
    await waitFor('nothing pending', async () => ((await deliveryOf(url, 'webhook-export')).pendingBatches === 0 ? true : undefined), 10_000);
    expect(await deadLetters(url)).toEqual([]);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    // Each retried batch carried the same Idempotency-Key as before: a receiver can drop repeats by it.
    expect([...receiver.keys.keys()].every((key) => /^[0-9a-f]{64}$/.test(key))).toBe(true);
  }, 90_000);
});

describe('S3 behind a failing proxy', () => {
  it('503 SlowDown then dropped sockets: nothing dead-lettered, every event in an object after recovery', async () => {
    const s3 = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: path.join(root, 's3'), configureBuckets: [{ name: 'events', configs: [] }] });
    const s3Port = ((await s3.run()) as AddressInfo).port;
    cleanup.push(() => s3.close());
    let mode: 'ok' | 'slowdown' | 'drop' = 'ok';
    const proxy = createServer((incoming, outgoing) => {
      if (mode === 'slowdown') {
        incoming.resume();
        outgoing.writeHead(503, { 'content-type': 'application/xml' }).end('<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>');
        return;
      }
      if (mode === 'drop') {
        incoming.socket.destroy();
        return;
      }
      const upstream = httpRequest({ host: '127.0.0.1', port: s3Port, method: incoming.method, path: incoming.url, headers: incoming.headers }, (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      });
      incoming.pipe(upstream);
    });
    await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
    cleanup.push(
      () =>
        new Promise<void>((resolve) => {
          proxy.closeAllConnections();
          proxy.close(() => resolve());
        }),
    );
    const endpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    const dir = await project([
      { name: 's3-export', config: { bucket: 'events', accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', endpoint, forcePathStyle: true, region: 'us-east-1', prefix: 'outage/' } },
    ]);
    const running = await startRuntime({ dir, adminToken: runtimeToken, port: 0, logger: silent, schedule: false, exportTickMs: 25 });
    cleanup.push(() => running.close());
    const { url } = running;

    mode = 'slowdown';
    const sent = await postDuringOutage(url, 8, 20, 250, 's');
    mode = 'drop';
    sent.push(...(await postDuringOutage(url, 8, 20, 250, 'd')));
    expect((await deliveryOf(url, 's3-export')).batchesInRetry).toBeGreaterThan(0);
    mode = 'ok';

    const getRaw = (urlPath: string) =>
      new Promise<Buffer>((resolve, reject) => {
        get({ host: '127.0.0.1', port: s3Port, path: urlPath }, (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => resolve(Buffer.concat(chunks)));
        }).on('error', reject);
      });
    await waitFor('nothing pending', async () => ((await deliveryOf(url, 's3-export')).pendingBatches === 0 ? true : undefined), 30_000);
    const keys = [...(await getRaw('/events/?list-type=2&prefix=outage/')).toString('utf8').matchAll(/<Key>([^<]*)<\/Key>/g)].map((match) => match[1]!);
    const exported = new Set<string>();
    for (const key of keys) {
      for (const line of gunzipSync(await getRaw(`/events/${key}`)).toString('utf8').trim().split('\n')) exported.add((JSON.parse(line) as PluginEvent).uuid);
    }
    expect(sent.filter((event) => !exported.has(event.uuid))).toEqual([]);
    expect(await deadLetters(url)).toEqual([]);
  }, 90_000);
});

describe('PostgreSQL while the export’s connections are terminated', () => {
  const admin = new pg.Pool({ connectionString: databaseUrl, max: 1, application_name: `${appName}_admin` });
  afterAll(async () => {
    await admin.query(`DROP TABLE IF EXISTS "${table}"`).catch(() => undefined);
    await admin.query(`DROP FUNCTION IF EXISTS "${table}_slow"()`).catch(() => undefined);
    await admin.end();
  });

  it('kills its idle and active connections every 150 ms for 6 s: the runtime child stays up and every row arrives', async () => {
    const connectionString = `${databaseUrl}${databaseUrl.includes('?') ? '&' : '?'}application_name=${appName}`;
    const dir = await project([{ name: 'postgres-export', config: { connectionString, tableName: table } }]);
    const runtime = await startChild(dir);
    // setupPlugin created the table before anything is terminated.
    await waitFor('the table', async () => ((await admin.query('SELECT to_regclass($1) AS t', [table])).rows[0].t ? true : undefined));
    // Every INSERT now takes 50 ms, so the killer also finds the export's connections active mid-statement.
    await admin.query(`CREATE FUNCTION "${table}_slow"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_sleep(0.05); RETURN NULL; END $$`);
    await admin.query(`CREATE TRIGGER slow BEFORE INSERT ON "${table}" FOR EACH STATEMENT EXECUTE FUNCTION "${table}_slow"()`);

    let terminated = 0;
    const states = new Set<string>();
    let killing = true;
    const killer = (async () => {
      while (killing) {
        // Only this test's own connections, by their application_name.
        const { rows } = await admin.query<{ state: string | null; killed: boolean }>(
          'SELECT state, pg_terminate_backend(pid) AS killed FROM pg_stat_activity WHERE application_name = $1 AND pid <> pg_backend_pid()',
          [appName],
        );
        for (const row of rows) {
          if (row.killed) terminated += 1;
          states.add(row.state ?? 'null');
        }
        await sleep(150);
      }
    })();
    const sent: PluginEvent[] = [];
    const started = Date.now();
    while (Date.now() - started < 6000) {
      const batch = makeEvents(10, 'pg');
      await post(runtime.url, batch);
      sent.push(...batch);
      await sleep(60);
    }
    killing = false;
    await killer;
    expect(terminated).toBeGreaterThan(5);
    expect(runtime.exit()).toBeUndefined(); // still running: no "Unhandled 'error' event"

    await waitFor(
      'every row',
      async () => {
        const { rows } = await admin.query<{ n: number }>(`SELECT count(DISTINCT uuid)::int AS n FROM "${table}" WHERE uuid = ANY($1::text[])`, [sent.map((event) => event.uuid)]);
        return rows[0]!.n === sent.length ? true : undefined;
      },
      30_000,
    );
    expect(runtime.exit()).toBeUndefined();
    expect((await fetch(`${runtime.url}/healthz`)).status).toBe(200);
    expect(await deadLetters(runtime.url)).toEqual([]);
    const metrics = await (await fetch(`${runtime.url}/metrics`, authorized)).text();
    expect(metrics).not.toMatch(/plugline_uncaught_errors_total\{kind="[a-z]+"\} [1-9]/);
    // Idle pooled connections were killed under the pool: those errors were survived and counted.
    expect(states.has('idle')).toBe(true);
    expect(states.has('active')).toBe(true);
    expect(Number(/plugline_host_errors_total\{resource="postgres"\} (\d+)/.exec(metrics)?.[1] ?? 0)).toBeGreaterThan(0);
    expect(runtime.output()).not.toMatch(/Unhandled 'error' event/);
  }, 90_000);
});

describe('a SIGKILL while batches wait for a retry', () => {
  it('loses none of them: the restarted runtime delivers every event', async () => {
    const receiver = await startWebhookReceiver();
    cleanup.push(() => receiver.close());
    await receiver.set('503');
    const dir = await project([{ name: 'webhook-export', config: { url: receiver.url, secret } }]);
    const first = await startChild(dir);
    const sent: PluginEvent[] = [];
    for (let round = 0; round < 5; round += 1) {
      const batch = makeEvents(20, `k${round}`);
      await post(first.url, batch);
      sent.push(...batch);
    }
    // Every event is in a batch that failed and waits for its next attempt.
    const waiting = await waitFor('batches in retry', async () => {
      const delivery = await deliveryOf(first.url, 'webhook-export');
      return delivery.bufferedEvents === 0 && delivery.pendingBatches >= 1 && delivery.batchesInRetry === delivery.pendingBatches ? delivery : undefined;
    });
    expect(waiting.deadLetters).toBe(0);
    await first.kill9();
    expect(first.exit()?.signal).toBe('SIGKILL');

    await receiver.set('ok');
    const second = await startChild(dir);
    await waitFor('every event after the restart', async () => (sent.every((event) => receiver.delivered.has(event.uuid)) ? true : undefined), 30_000);
    expect(await deadLetters(second.url)).toEqual([]);
    expect(second.exit()).toBeUndefined();
  }, 90_000);
});

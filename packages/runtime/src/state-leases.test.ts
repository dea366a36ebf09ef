// Claims on export batches: short leases renewed while the export runs, freed quickly when the holder dies.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addPlugin, projectPaths } from './project.js';
import { startRuntime } from './server.js';
import { StoreLeases } from './state-leases.js';
import { RuntimeStore } from './store.js';
import { startTestRegistry, waitFor } from './test/helpers.js';

const mainScript = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const silent = pino({ level: 'silent' });

/** A receiver of exported uuids; `hold` decides per request whether to leave it hanging. */
async function startExportReceiver(hold: (request: number) => boolean, delayMs = 0) {
  const batches: string[][] = [];
  /** When each request arrived, with its uuids. */
  const arrivals: { at: number; uuids: string[] }[] = [];
  const hanging: ServerResponse[] = [];
  let requests = 0;
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    requests += 1;
    const uuids = JSON.parse(Buffer.concat(chunks).toString('utf8')) as string[];
    arrivals.push({ at: Date.now(), uuids });
    if (hold(requests)) {
      hanging.push(res);
      return;
    }
    if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
    batches.push(uuids);
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    batches,
    arrivals,
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of hanging) res.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const exporter = {
  name: 'lease-exporter',
  config: { type: 'object' as const, properties: { url: { type: 'string' as const } }, required: ['url'] },
  code: `export async function exportEvents(events, { config }) {
    const res = await fetch(config.url + '/export', { method: 'POST', body: JSON.stringify(events.map((e) => e.uuid)) });
    if (!res.ok) throw new Error('receiver said ' + res.status);
  }`,
};

function events(count: number) {
  return Array.from({ length: count }, (_, i) => ({ uuid: randomUUID(), event: 'e', distinct_id: `p${i}`, properties: {}, timestamp: new Date().toISOString() }));
}

describe('claims on export batches', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  let registry: Awaited<ReturnType<typeof startTestRegistry>>;

  /** A runtime project with the exporter, flushing its buffer at once. */
  async function project(url: string): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'plugline-lease-project-'));
    cleanup.push(() => rm(dir, { recursive: true, force: true }));
    await addPlugin(dir, { name: exporter.name, spec: '1.0.0', config: { url }, registryUrl: registry.url, grants: [`net:${new URL(url).host}`] });
    const file = projectPaths(dir).project;
    const json = JSON.parse(await readFile(file, 'utf8')) as { plugins: { settings?: object }[] };
    json.plugins[0]!.settings = { exportMaxAgeMs: 0 };
    await writeFile(file, JSON.stringify(json, null, 2));
    return dir;
  }

  beforeAll(async () => {
    registry = await startTestRegistry([exporter]);
  });
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
    await registry?.close();
  });

  it('a runtime SIGKILLed while its export hangs: the restarted runtime exports that batch within seconds, once', async () => {
    if (!existsSync(mainScript)) throw new Error('packages/runtime/dist/main.js is missing: build @plugline/runtime first');
    const receiver = await startExportReceiver((request) => request === 1);
    cleanup.push(() => receiver.close());
    const dir = await project(receiver.url);

    const env: Record<string, string | undefined> = { ...process.env, PLUGLINE_RUNTIME_DIR: dir, PLUGLINE_RUNTIME_PORT: '0', LOG_LEVEL: 'info', REDIS_URL: '' };
    delete env.PLUGLINE_SOURCE;
    delete env.PLUGLINE_DATA_DIR;
    const child: ChildProcess = spawn(process.execPath, [mainScript], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    cleanup.push(async () => {
      child.kill('SIGKILL');
      await exited;
    });
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const url = await waitFor(() => /"url":"(http:[^"]+)"[^\n]*plugline runtime listening/.exec(output)?.[1], 15_000);
    const batch = events(3);
    const response = await fetch(`${url}/batch`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ batch }) });
    expect(response.status).toBe(200);

    // The child claimed the batch and its receiver hangs.
    await waitFor(() => receiver.requests() === 1);
    const db = new DatabaseSync(join(projectPaths(dir).data, 'runtime.sqlite'));
    cleanup.push(async () => db.close());
    const claims = db.prepare("SELECT owner FROM leases WHERE key LIKE 'export:%'").all() as { owner: string }[];
    expect(claims).toHaveLength(1);
    expect(claims[0]!.owner.split('|')[1]).toBe(String(child.pid));

    child.kill('SIGKILL');
    await exited;
    const restartedAt = Date.now();
    const restarted = await startRuntime({ dir, port: 0, logger: silent, schedule: false, exportTickMs: 20 });
    cleanup.push(() => restarted.close());
    // Freed at start because its holder exited, not left to lapse (its deadline is still ahead).
    const heldByChild = db.prepare('SELECT key FROM leases WHERE owner = ? AND until > ?');
    expect(heldByChild.all(claims[0]!.owner, Date.now())).toEqual([]);
    await waitFor(() => receiver.batches.length >= 1, 10_000);
    const recoveredMs = Date.now() - restartedAt;
    expect(recoveredMs).toBeLessThan(10_000); // it was 2 x wallTimeoutMs + 10 s (70 s) before
    await new Promise((resolve) => setTimeout(resolve, 300)); // a second copy would show up now
    expect(receiver.batches).toEqual([batch.map((event) => event.uuid)]);
    expect(receiver.requests()).toBe(2); // the hanging one, then one after the restart
    expect(restarted.runtime.store.pendingBatches()).toEqual([]);
  }, 30_000);

  it('an abandoned claim (holder alive but no longer renewing) lapses after leaseMs; a live claim is renewed while the export runs', async () => {
    // Two runtimes on one store, short claims (400 ms) and a receiver slower than that: without the
    // heartbeat the second runtime would take over every batch and export it again.
    const receiver = await startExportReceiver(() => false, 1_200);
    cleanup.push(() => receiver.close());
    const dataDir = await mkdtemp(join(tmpdir(), 'plugline-lease-data-'));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));

    // A batch claimed by a holder that stopped renewing (same process, so not released as dead).
    const store = new RuntimeStore(dataDir);
    const abandoned = new StoreLeases(dataDir);
    cleanup.push(async () => abandoned.close());
    const first = events(2);
    store.storeEvents(first, [{ plugin: exporter.name }]);
    const batchId = store.cutBatch(exporter.name, 100, 1_000_000)!;
    store.close();
    expect(abandoned.claim(`export:${batchId}`, 1_000)).toBe(true);
    const claimedAt = Date.now();

    const start = async () => {
      const running = await startRuntime({ dir: await project(receiver.url), dataDir, port: 0, logger: silent, schedule: false, exportTickMs: 20, leaseMs: 400 });
      cleanup.push(() => running.close());
      return running;
    };
    const [a, b] = await Promise.all([start(), start()]);
    const second = events(3);
    await a.runtime.ingest(second.slice(0, 2));
    await b.runtime.ingest(second.slice(2));

    const all = [...first, ...second].map((event) => event.uuid).sort();
    await waitFor(() => receiver.batches.flat().length >= all.length && a.runtime.store.pendingBatches().length === 0, 15_000);
    await new Promise((resolve) => setTimeout(resolve, 1_000)); // a second copy would show up now
    expect(receiver.batches.flat().sort()).toEqual(all);
    // The abandoned batch went out only once its claim had lapsed.
    const abandonedArrivals = receiver.arrivals.filter((arrival) => arrival.uuids.includes(first[0]!.uuid));
    expect(abandonedArrivals).toHaveLength(1);
    expect(abandonedArrivals[0]!.at - claimedAt).toBeGreaterThanOrEqual(1_000);
    expect(receiver.arrivals).toHaveLength(receiver.batches.length); // no attempt was repeated
    // The runtimes released their own claims; only the abandoned holder's expired row may remain.
    const db = new DatabaseSync(join(dataDir, 'runtime.sqlite'));
    cleanup.push(async () => db.close());
    const live = db.prepare('SELECT key FROM leases WHERE until > ?').all(Date.now()) as { key: string }[];
    expect(live).toEqual([]);
  }, 30_000);

  it('releaseDeadHolders frees only the claims of exited processes on this machine', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'plugline-lease-dead-'));
    cleanup.push(() => rm(dataDir, { recursive: true, force: true }));
    const mine = new StoreLeases(dataDir);
    cleanup.push(async () => mine.close());
    const [machine] = mine.owner.split('|');
    const dead = spawn(process.execPath, ['-e', '']);
    await new Promise((resolve) => dead.once('exit', resolve));
    const db = new DatabaseSync(join(dataDir, 'runtime.sqlite'));
    cleanup.push(async () => db.close());
    const insert = db.prepare('INSERT INTO leases (key, owner, until) VALUES (?, ?, ?)');
    const until = Date.now() + 60_000;
    insert.run('export:1', `${machine}|${dead.pid}|x`, until); // exited: released
    insert.run('export:2', `other-machine|${dead.pid}|x`, until); // another machine: left to expire
    insert.run('export:3', `${machine}|${process.ppid}|x`, until); // alive: kept
    insert.run('export:4', 'legacy-owner', until); // unrecognised: left to expire
    expect(mine.claim('export:5', 60_000)).toBe(true); // this process: kept
    expect(mine.releaseDeadHolders()).toBe(1);
    const keys = (db.prepare('SELECT key FROM leases ORDER BY key').all() as { key: string }[]).map((row) => row.key);
    expect(keys).toEqual(['export:2', 'export:3', 'export:4', 'export:5']);
  });
});

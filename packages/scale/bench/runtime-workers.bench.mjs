// Benchmark (not a test): events/s through the REAL runtime with 1, 2 and 4 worker processes
// (`plugline-runtime --source nats --worker`, packages/runtime/dist/main.js) sharing one SQLite store.
// Each event crosses the sandboxed chain (BENCH_PLUGINS light plugins, default 1), is stored
// (deduplicated by uuid) and only then acked. A real registry is started here and the plugins are
// installed from it. Build first: npx turbo run build --filter=@plugline/runtime (builds scale too).
//   node packages/scale/bench/runtime-workers.bench.mjs
// Env: PLUGLINE_NATS_URL (nats://127.0.0.1:4222), BENCH_EVENTS (50000), BENCH_PEOPLE (1000),
//      BENCH_PARTITIONS (64), BENCH_WORKERS (1,2,4), BENCH_PLUGINS (1).
// The events are published first; then the workers are spawned. Reported: throughput from the first
// stored event to the last (so process start-up is excluded, and shown separately).
//
// This script imports @plugline/runtime and @plugline/registry from the workspace at run time only:
// @plugline/scale does not depend on them (the runtime depends on scale).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath } from 'node:url';
import { startRegistry } from '@plugline/registry';
import { RegistryClient } from '@plugline/registry/client';
import { fixtureManifest, packPlugin } from '@plugline/registry/testing';
import { addPlugin } from '@plugline/runtime';
import { connect } from 'nats';
import { pino } from 'pino';
import { createNatsEventQueue } from '../dist/index.js';
import { makeEvents as makeEventsFor } from './events.mjs';

const natsUrl = process.env.PLUGLINE_NATS_URL ?? 'nats://127.0.0.1:4222';
const total = Number(process.env.BENCH_EVENTS ?? 50_000);
const people = Number(process.env.BENCH_PEOPLE ?? 1_000);
const partitions = Number(process.env.BENCH_PARTITIONS ?? 64);
const workerCounts = (process.env.BENCH_WORKERS ?? '1,2,4').split(',').map(Number);
const pluginCount = Number(process.env.BENCH_PLUGINS ?? 1);
const runtimeMain = fileURLToPath(new URL('../../runtime/dist/main.js', import.meta.url));

function makeEvents() {
  return makeEventsFor(total, people);
}

function startWorker(env) {
  const child = spawn(process.execPath, [runtimeMain, '--source', 'nats', '--worker'], {
    env: { ...process.env, PLUGLINE_RUNTIME_PORT: '0', LOG_LEVEL: 'warn', REDIS_URL: '', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return child;
}

async function run(workers, projectDir) {
  const id = randomBytes(6).toString('hex');
  const stream = `PLUGLINE_RTBENCH_${id}`;
  const subjectPrefix = `plugline-rtbench.${id}`;
  const dataDir = await mkdtemp(join(tmpdir(), 'plugline-rtbench-data-'));
  const queue = await createNatsEventQueue({ url: natsUrl, stream, subjectPrefix, partitions });
  const children = [];
  try {
    const events = makeEvents();
    const publishStart = performance.now();
    for (let i = 0; i < events.length; i += 5_000) await queue.publish(events.slice(i, i + 5_000));
    const publishMs = performance.now() - publishStart;

    const env = {
      PLUGLINE_RUNTIME_DIR: projectDir,
      PLUGLINE_DATA_DIR: dataDir,
      PLUGLINE_NATS_URL: natsUrl,
      PLUGLINE_NATS_STREAM: stream,
      PLUGLINE_NATS_SUBJECT_PREFIX: subjectPrefix,
      PLUGLINE_NATS_PARTITIONS: String(partitions),
    };
    const spawnedAt = performance.now();
    for (let i = 0; i < workers; i++) children.push(startWorker(env));
    // The store file appears when the first worker opens it.
    let db;
    let firstAt;
    let count = 0;
    while (count < events.length) {
      await new Promise((resolve) => setTimeout(resolve, 10));
      try {
        db ??= new DatabaseSync(join(dataDir, 'runtime.sqlite'));
        count = Number(db.prepare('SELECT COUNT(*) AS n FROM events').get().n);
      } catch {
        continue; // not created yet (or its schema is being created)
      }
      if (count > 0 && firstAt === undefined) firstAt = performance.now();
      if (performance.now() - spawnedAt > 600_000) throw new Error(`stuck at ${count} of ${events.length}`);
    }
    const doneAt = performance.now();
    await Promise.all(
      children.map((child) => {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        return exited;
      }),
    );
    const rows = db.prepare("SELECT uuid, distinct_id, json_extract(data, '$.properties.seq') AS seq FROM events ORDER BY seq").all();
    db.close();
    const unique = new Set(rows.map((row) => row.uuid)).size;
    const last = new Map();
    let outOfOrder = 0;
    for (const row of rows) {
      if ((last.get(row.distinct_id) ?? -1) >= row.seq) outOfOrder++;
      last.set(row.distinct_id, row.seq);
    }
    return {
      workers,
      events: events.length,
      publishPerSecond: Math.round(events.length / (publishMs / 1_000)),
      startupSeconds: Number(((firstAt - spawnedAt) / 1_000).toFixed(2)),
      drainSeconds: Number(((doneAt - firstAt) / 1_000).toFixed(2)),
      storedPerSecond: Math.round(events.length / ((doneAt - firstAt) / 1_000)),
      stored: rows.length,
      unique,
      outOfOrder,
    };
  } finally {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    await queue.close();
    const nc = await connect({ servers: natsUrl });
    const jsm = await nc.jetstreamManager();
    await jsm.streams.delete(stream).catch(() => false);
    await jsm.streams.delete(`${stream}_DLQ`).catch(() => false);
    await nc.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

const registryDir = await mkdtemp(join(tmpdir(), 'plugline-rtbench-registry-'));
const projectDir = await mkdtemp(join(tmpdir(), 'plugline-rtbench-project-'));
const registry = await startRegistry({ port: 0, dataDir: registryDir, adminToken: 'bench', logger: pino({ level: 'silent' }) });
try {
  const client = new RegistryClient({ url: registry.url, token: 'bench' });
  for (let i = 0; i < pluginCount; i++) {
    const name = `bench-light-${i}`;
    const tarball = await packPlugin({
      manifest: fixtureManifest(name, '1.0.0', { sdk: '>=0.1.0', config: { type: 'object', properties: {} } }),
      files: { 'index.js': `export default { processEvent(e) { e.properties.step_${i} = true; return e; } };\n` },
    });
    await client.publish(tarball, { name, version: '1.0.0' });
    await addPlugin(projectDir, { name, spec: '1.0.0', config: {}, registryUrl: registry.url });
  }
  const results = [];
  for (const workers of workerCounts) {
    const before = loadavg()[0].toFixed(2);
    const result = await run(workers, projectDir);
    results.push({ ...result, loadBefore: before });
    process.stdout.write(`${JSON.stringify(results.at(-1))}\n`);
  }
  process.stdout.write(
    `\n${cpus().length} cores (${availableParallelism()} available), ${cpus()[0]?.model ?? 'unknown CPU'}, Node ${process.version}, ` +
      `${partitions} partitions, ${pluginCount} plugin(s), load average now ${loadavg()
        .map((n) => n.toFixed(2))
        .join(' ')}\n\n`,
  );
  process.stdout.write('| workers | stored/s | drain s | start-up s | publish/s | stored | unique | out of order | load avg before |\n');
  process.stdout.write('| ------: | -------: | ------: | ---------: | --------: | -----: | -----: | -----------: | --------------: |\n');
  for (const r of results) {
    process.stdout.write(
      `| ${r.workers} | ${r.storedPerSecond.toLocaleString('en')} | ${r.drainSeconds} | ${r.startupSeconds} | ${r.publishPerSecond.toLocaleString('en')} | ${r.stored.toLocaleString('en')} | ${r.unique.toLocaleString('en')} | ${r.outOfOrder} | ${r.loadBefore} |\n`,
    );
  }
  if (results.some((r) => r.stored !== r.events || r.unique !== r.events || r.outOfOrder !== 0)) process.exitCode = 1;
} finally {
  await registry.close();
  await rm(registryDir, { recursive: true, force: true });
  await rm(projectDir, { recursive: true, force: true });
}

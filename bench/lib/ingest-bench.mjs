// Section 5: Runtime.ingest with an after-the-chain hook. Events go through a processEvent plugin, are
// stored, and are handed to an onEvent plugin; a round ends when onEvent has settled. It measures what
// the delivery costs per batch (the durable first attempt: a retry row per batch and hook plugin, its
// lease, its removal), by batch size, this build against `PLUGLINE_BASELINE_RUNTIME` when it is set
// (alternating rounds in this process, so both see the same load). composeWebhook is left out: one
// HTTP request per event would be all this measured.
import { randomUUID } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { packPlugin } from '@plugline/cli';
import { RegistryClient } from '@plugline/registry/client';
import * as current from '@plugline/runtime';
import { pino } from 'pino';
import { log, removeDir, round, summarize, tempDir } from './util.mjs';

const fixtures = [
  { name: 'bench-tagger', code: 'export function processEvent(event) { event.properties.tagged = true; return event; }' },
  { name: 'bench-listener', code: 'export async function onEvent(event, { global }) { global.seen = (global.seen ?? 0) + 1; }' },
];

async function publishFixtures(registryUrl, token, workDir) {
  const client = new RegistryClient({ url: registryUrl, token });
  for (const fixture of fixtures) {
    const dir = path.join(workDir, fixture.name);
    await mkdir(path.join(dir, 'src'), { recursive: true });
    const manifest = { name: fixture.name, version: '1.0.0', main: 'dist/index.js', sdk: '>=0.1.0', config: fixture.config ?? { type: 'object', properties: {} } };
    await writeFile(path.join(dir, 'plugin.json'), JSON.stringify(manifest));
    await writeFile(path.join(dir, 'src', 'index.js'), fixture.code);
    const packed = await packPlugin(dir, { outDir: workDir, writeBundle: false });
    await client.publish(packed.tarball, { name: fixture.name, version: '1.0.0' });
  }
}

const silent = pino({ level: 'silent' });

async function oneRound(build, { registryUrl, batches, batchSize }) {
  const dir = await tempDir('ingest');
  try {
    await build.addPlugin(dir, { name: 'bench-tagger', registryUrl });
    await build.addPlugin(dir, { name: 'bench-listener', registryUrl });
    const running = await build.startRuntime({ dir, port: 0, adminToken: 'bench-runtime-admin-token', logger: silent, schedule: false });
    try {
      const input = Array.from({ length: batches }, () =>
        Array.from({ length: batchSize }, (_, index) => ({ uuid: randomUUID(), event: '$pageview', distinct_id: `u${index % 97}`, properties: { $current_url: 'https://example.com/x', n: index }, timestamp: new Date().toISOString() })),
      );
      const start = performance.now();
      for (const batch of input) await running.runtime.ingest(batch);
      await running.runtime.settle();
      return (batches * batchSize) / ((performance.now() - start) / 1000);
    } finally {
      await running.close();
    }
  } finally {
    await removeDir(dir);
  }
}

/** Section 5: events/s through ingest and onEvent, by batch size (and against a baseline build). */
export async function ingestBench({ registryUrl, token, workDir, sizes, eventsPerRound, rounds }) {
  await publishFixtures(registryUrl, token, workDir);
  const entry = process.env.PLUGLINE_BASELINE_RUNTIME;
  const baseline = entry ? await import(pathToFileURL(path.resolve(process.env.INIT_CWD ?? process.cwd(), entry)).href) : undefined;
  const rows = [];
  for (const batchSize of sizes) {
    const options = { registryUrl, batchSize, batches: Math.max(1, Math.round(eventsPerRound / batchSize)) };
    await oneRound(current, options);
    if (baseline) await oneRound(baseline, options);
    const values = { current: [], baseline: [] };
    for (let index = 0; index < rounds; index++) {
      // Alternate which build goes first, so neither always runs on a warmer machine.
      const order = index % 2 === 0 ? ['current', 'baseline'] : ['baseline', 'current'];
      for (const which of order) {
        if (which === 'baseline' && !baseline) continue;
        values[which].push(round(await oneRound(which === 'current' ? current : baseline, options), 0));
      }
    }
    const row = { batchSize, eventsPerRound: options.batches * batchSize, current: summarize(values.current), ...(baseline ? { baseline: summarize(values.baseline) } : {}) };
    if (row.baseline) row.ratio = round(row.current.median / row.baseline.median, 3);
    log(`section 5: batches of ${batchSize}: ${row.current.median} events/s${row.baseline ? ` vs baseline ${row.baseline.median} (${row.ratio}x)` : ''}`);
    rows.push(row);
  }
  return { plugins: fixtures.map((fixture) => fixture.name), baseline: entry ?? null, rows };
}

// Registry HTTP benchmark: publish latency, resolve/download/search throughput against a real server
// on a random port with a temporary data folder. Run after building: `npm run bench -w apps/registry`.
// Prints one JSON object; numbers depend on the machine, so compare runs on the same one.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { RegistryClient } from '../dist/client.js';
import { startRegistry } from '../dist/index.js';
import { fixtureManifest, packPlugin } from '../dist/testing.js';

const plugins = Number(process.env.BENCH_PLUGINS ?? 50);
const versionsPerPlugin = Number(process.env.BENCH_VERSIONS ?? 10);
const requests = Number(process.env.BENCH_REQUESTS ?? 3000);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 16);

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function throughput(label, run) {
  let next = 0;
  const latencies = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < requests) {
        const index = next++;
        const t0 = performance.now();
        await run(index);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { [label]: { requestsPerSecond: Math.round(requests / seconds), p50ms: +percentile(latencies, 50).toFixed(2), p99ms: +percentile(latencies, 99).toFixed(2) } };
}

const dataDir = await mkdtemp(join(tmpdir(), 'plugline-bench-'));
const registry = await startRegistry({ port: 0, dataDir, adminToken: 'bench', logger: pino({ level: 'silent' }) });
try {
  const client = new RegistryClient({ url: registry.url, token: 'bench' });
  const tarball = await packPlugin({ manifest: fixtureManifest('template', '1.0.0') });
  const publishLatencies = [];
  for (let p = 0; p < plugins; p += 1) {
    for (let v = 0; v < versionsPerPlugin; v += 1) {
      const name = `bench-plugin-${p}`;
      const version = `1.${v}.0`;
      const bytes = await packPlugin({ manifest: fixtureManifest(name, version, { keywords: [`k${p % 7}`] }) });
      const t0 = performance.now();
      await client.publish(bytes, { name, version });
      publishLatencies.push(performance.now() - t0);
    }
  }
  publishLatencies.sort((a, b) => a - b);
  const results = {
    setup: { plugins, versionsPerPlugin, requests, concurrency, tarballBytes: tarball.length, node: process.version },
    publish: { count: publishLatencies.length, p50ms: +percentile(publishLatencies, 50).toFixed(2), p99ms: +percentile(publishLatencies, 99).toFixed(2) },
    ...(await throughput('resolveRange', (i) => client.resolve(`bench-plugin-${i % plugins}`, '^1.0.0'))),
    ...(await throughput('download', (i) => client.download(`bench-plugin-${i % plugins}`, '1.0.0'))),
    ...(await throughput('pluginDocument', (i) => client.getPlugin(`bench-plugin-${i % plugins}`))),
    ...(await throughput('search', (i) => client.search({ q: `plugin-${i % plugins}` }))),
  };
  process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
} finally {
  await registry.close();
  await rm(dataDir, { recursive: true, force: true });
}

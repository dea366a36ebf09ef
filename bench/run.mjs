// `npm run bench`: Plugline's benchmarks on this machine in one run (not a test: nothing passes or fails).
// Writes results/latest.json, results/latest.md and results/latest.svg.
//   node run.mjs            full run (~8-10 minutes on 2 cores)
//   node run.mjs --quick    smoke run (~2 minutes): fewer, shorter rounds, smaller data sets
//   --only=runtime,ingest,registry,install,scaling,engines   run some sections only
//   (engines: the registry on SQLite and on the MongoDB engine, when MONGODB_URI is set: run the bench
//   under scripts/ferretdb.sh for FerretDB; its database is random and dropped at the end)
//   --out=<dir>             where to write (default results/)
import { createRequire } from 'node:module';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ingestBench } from './lib/ingest-bench.mjs';
import { installBench, runtimeLightChain } from './lib/install-bench.mjs';
import { benchPackageName, verdaccioToken } from './lib/packages.mjs';
import { registryEngines, registryScaling, registryVsVerdaccio } from './lib/registry-bench.mjs';
import { markdownReport, svgChart } from './lib/report.mjs';
import { installChain, runtimeBench } from './lib/runtime-bench.mjs';
import { loadAverage, log, machineInfo, removeDir, startChildServer, tempDir } from './lib/util.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const quick = args.includes('--quick');
const only = args.find((arg) => arg.startsWith('--only='))?.slice('--only='.length).split(',');
const outDir = path.resolve(args.find((arg) => arg.startsWith('--out='))?.slice('--out='.length) ?? path.join(here, 'results'));
const wants = (section) => !only || only.includes(section);
const countArg = args.find((arg) => arg.startsWith('--count='))?.slice('--count='.length);

if (typeof globalThis.gc !== 'function') log('note: run with node --expose-gc for steadier memory numbers (npm run bench does)');

const params = quick
  ? {
      runtime: { batchSize: 1000, rounds: 3, seconds: 0.5, warmupSeconds: 0.3, latencySamples: 300, lengths: [1, 5, 10] },
      lightChainRounds: 3,
      ingest: { sizes: [10, 250, 1000], eventsPerRound: 2000, rounds: 3 },
      registry: { count: 30, rounds: 3, seconds: 2, connections: 10 },
      install: { rounds: 3 },
      scaling: { sizes: [10, 100, 1000], rounds: 3, seconds: 1, connections: 4, concurrency: 8 },
    }
  : {
      runtime: { batchSize: 1000, rounds: 5, seconds: 1, warmupSeconds: 0.5, latencySamples: 2000, lengths: [1, 5, 10] },
      lightChainRounds: 7,
      ingest: { sizes: [10, 250, 1000], eventsPerRound: 10_000, rounds: 5 },
      registry: { count: 100, rounds: 5, seconds: 5, connections: 10 },
      install: { rounds: 5 },
      scaling: { sizes: [10, 1000, 10_000], rounds: 5, seconds: 3, connections: 4, concurrency: 8 },
    };

const require = createRequire(import.meta.url);
const results = {
  date: new Date().toISOString(),
  quick,
  machine: machineInfo(),
  verdaccioVersion: require('verdaccio/package.json').version,
  loadAverage: { start: loadAverage() },
  params,
  targets: [],
};
log(`machine: ${results.machine.cpuModel}, ${results.machine.cores} cores, load ${results.loadAverage.start.join(' ')}${quick ? ' (quick run)' : ''}`);

const adminToken = 'bench-admin-token';
const dirs = [];
const servers = [];
const started = Date.now();
try {
  const registryDir = await tempDir('registry');
  const verdaccioDir = await tempDir('verdaccio');
  const workDir = await tempDir('work');
  dirs.push(registryDir, verdaccioDir, workDir);
  const registry = await startChildServer(path.join(here, 'servers/registry.mjs'), [registryDir], { PLUGLINE_ADMIN_TOKEN: adminToken });
  servers.push(registry);
  log(`Plugline registry (pid ${registry.pid}) at ${registry.url}`);
  let verdaccio;
  if (wants('registry') || wants('install')) {
    verdaccio = await startChildServer(path.join(here, 'servers/verdaccio.mjs'), [verdaccioDir]);
    servers.push(verdaccio);
    verdaccio.token = await verdaccioToken(verdaccio.url);
    log(`Verdaccio ${results.verdaccioVersion} (pid ${verdaccio.pid}) at ${verdaccio.url}`);
  }
  const section = (name) => {
    results.loadAverage[name] = loadAverage();
    log(`--- ${name} (load ${results.loadAverage[name].join(' ')})`);
  };

  if (wants('runtime')) {
    section('runtime');
    const installed = await installChain({ registryUrl: registry.url, token: adminToken, workDir, cacheDir: path.join(workDir, 'runtime-cache') });
    const runtime = await runtimeBench({ installed, ...params.runtime });
    const { scaling, targets, ...rest } = runtime;
    results.runtime = rest;
    results.scaling = { ...results.scaling, runtime: scaling };
    results.targets.push(...targets);
    results.runtimeLightChain = await runtimeLightChain({ rounds: params.lightChainRounds });
  }
  if (wants('ingest')) {
    section('ingest');
    results.ingest = await ingestBench({ registryUrl: registry.url, token: adminToken, workDir, ...params.ingest });
  }
  if (wants('registry')) {
    section('registry');
    results.registry = await registryVsVerdaccio({ plugline: { url: registry.url, token: adminToken }, verdaccio, ...params.registry });
    results.targets.push(results.registry.target);
  }
  if (wants('engines') && process.env.MONGODB_URI) {
    section('engines');
    const { randomBytes } = await import('node:crypto');
    const database = `plugline_bench_${randomBytes(6).toString('hex')}`;
    const mongoUri = process.env.MONGODB_URI.replace(/^(mongodb(?:\+srv)?:\/\/[^/?]+)(?:\/[^?]*)?/, `$1/${database}`);
    const mongoDir = await tempDir('registry-mongo');
    dirs.push(mongoDir);
    const mongoRegistry = await startChildServer(path.join(here, 'servers/registry.mjs'), [mongoDir], { PLUGLINE_ADMIN_TOKEN: adminToken, BENCH_MONGODB_URI: mongoUri });
    servers.push(mongoRegistry);
    try {
      const ferret = process.env.PLUGLINE_FERRETDB_VERSION ? `FerretDB ${process.env.PLUGLINE_FERRETDB_VERSION} on ${process.env.PLUGLINE_FERRETDB_BACKEND}` : 'MONGODB_URI';
      results.registryEngines = await registryEngines({
        engines: [
          { label: 'SQLite (embedded)', url: registry.url, token: adminToken },
          { label: `MongoDB engine (${ferret})`, url: mongoRegistry.url, token: adminToken },
        ],
        ...params.registry,
        ...(countArg ? { count: Number(countArg) } : {}),
      });
    } finally {
      await mongoRegistry.stop();
      const { MongoClient } = await import('mongodb');
      const client = new MongoClient(mongoUri);
      await client.connect().then(() => client.db().dropDatabase()).finally(() => client.close());
    }
  } else if (wants('engines') && only) log('section engines: skipped, MONGODB_URI is not set (run under scripts/ferretdb.sh)');
  if (wants('install')) {
    section('install');
    if (!results.registry) throw new Error('--only=install needs the registry section too (it publishes the packages)');
    results.install = await installBench({ pluglineUrl: registry.url, verdaccioUrl: verdaccio.url, name: benchPackageName(0), rounds: params.install.rounds });
    results.targets.push(results.install.targets[0]);
  }
  if (wants('scaling')) {
    section('scaling');
    results.scaling = { ...results.scaling, registry: await registryScaling({ plugline: { url: registry.url, token: adminToken }, ...params.scaling }) };
  }
} finally {
  for (const server of servers) await server.stop();
  for (const dir of dirs) await removeDir(dir);
}
results.loadAverage.end = loadAverage();
results.durationSeconds = Math.round((Date.now() - started) / 1000);

await mkdir(outDir, { recursive: true });
await writeFile(path.join(outDir, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
await writeFile(path.join(outDir, 'latest.md'), markdownReport(results));
await writeFile(path.join(outDir, 'latest.svg'), svgChart(results));
log(`done in ${results.durationSeconds} s: ${path.join(outDir, 'latest.{json,md,svg}')}`);
for (const target of results.targets) log(`target ${target.met ? 'met   ' : 'MISSED'} ${target.metric}: wanted >= ${Number(target.wanted).toFixed(2)}, measured ${target.measured}`);

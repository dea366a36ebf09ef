// Sections 2 (Plugline registry vs Verdaccio) and 4a (metadata latency vs number of versions).
import { rawTarball } from '@plugline/registry/testing';
import { SDK_VERSION } from '@plugline/sdk';
import { load } from './load.mjs';
import { benchPackageName, makePackage, mapLimit, publishPlugline, publishVerdaccio } from './packages.mjs';
import { log, median, msSince, percentile, round, summarize } from './util.mjs';

/**
 * Publishes the same `count` packages to both registries (sequentially, timing each publish), then
 * alternates rounds of autocannon load on both: metadata documents, then tarballs.
 */
export async function registryVsVerdaccio({ plugline, verdaccio, count, rounds, seconds, connections }) {
  log(`section 2: packing ${count} packages`);
  const packages = [];
  for (let index = 0; index < count; index++) packages.push(await makePackage(benchPackageName(index), '1.0.0'));
  const publish = { plugline: [], verdaccio: [] };
  log(`section 2: publishing ${count} packages to each registry (one at a time)`);
  for (const pkg of packages) {
    publish.plugline.push(await publishPlugline(plugline.url, plugline.token, pkg));
    publish.verdaccio.push(await publishVerdaccio(verdaccio.url, verdaccio.token, pkg));
  }
  const paths = {
    plugline: {
      metadata: packages.map((pkg) => `/api/v1/plugins/${pkg.name}`),
      tarball: packages.map((pkg) => `/api/v1/plugins/${pkg.name}/-/${pkg.version}.tgz`),
    },
    verdaccio: {
      metadata: packages.map((pkg) => `/${pkg.name}`),
      tarball: packages.map((pkg) => `/${pkg.name}/-/${pkg.name}-${pkg.version}.tgz`),
    },
  };
  // Sanity: both serve every document and tarball (and the bytes match).
  for (const [server, target] of [['plugline', plugline], ['verdaccio', verdaccio]]) {
    for (const kind of ['metadata', 'tarball']) {
      for (const path of [paths[server][kind][0], paths[server][kind].at(-1)]) {
        const response = await fetch(`${target.url}${path}`, { headers: { accept: 'application/json' } });
        const bytes = new Uint8Array(await response.arrayBuffer());
        if (!response.ok) throw new Error(`${server} GET ${path}: HTTP ${response.status}`);
        if (kind === 'tarball' && Buffer.compare(bytes, packages[path === paths[server][kind][0] ? 0 : count - 1].tarball) !== 0) {
          throw new Error(`${server} GET ${path}: the tarball differs from what was published`);
        }
      }
    }
  }
  const runs = { plugline: { metadata: [], tarball: [] }, verdaccio: { metadata: [], tarball: [] } };
  for (const kind of ['metadata', 'tarball']) {
    // One short warm-up each (JIT, file caches), not recorded.
    for (const server of ['plugline', 'verdaccio']) {
      await load((server === 'plugline' ? plugline : verdaccio).url, paths[server][kind], { seconds: 1, connections });
    }
    for (let round = 1; round <= rounds; round++) {
      // Alternate the servers inside each round so drift in machine load hits both alike.
      const order = round % 2 ? ['plugline', 'verdaccio'] : ['verdaccio', 'plugline'];
      for (const server of order) {
        const result = await load((server === 'plugline' ? plugline : verdaccio).url, paths[server][kind], { seconds, connections });
        if (result.errors > 0 || result.non2xx > 0) throw new Error(`${server} ${kind}: ${result.errors} errors, ${result.non2xx} non-2xx answers`);
        runs[server][kind].push(result);
        log(`section 2: ${kind} round ${round} ${server}: ${Math.round(result.requestsPerSecond)} req/s, p99 ${result.latencyP99} ms`);
      }
    }
  }
  const summary = (list, key) => summarize(list.map((item) => item[key]));
  const side = (server) => ({
    metadata: { requestsPerSecond: summary(runs[server].metadata, 'requestsPerSecond'), latencyMeanMs: summary(runs[server].metadata, 'latencyMean'), latencyP50Ms: summary(runs[server].metadata, 'latencyP50'), latencyP99Ms: summary(runs[server].metadata, 'latencyP99') },
    tarball: { requestsPerSecond: summary(runs[server].tarball, 'requestsPerSecond'), latencyMeanMs: summary(runs[server].tarball, 'latencyMean'), latencyP50Ms: summary(runs[server].tarball, 'latencyP50'), latencyP99Ms: summary(runs[server].tarball, 'latencyP99') },
    publishMs: { median: round(median(publish[server]), 2), p99: round(percentile(publish[server], 99), 2), min: round(Math.min(...publish[server]), 2), max: round(Math.max(...publish[server]), 2), count: publish[server].length },
  });
  const result = { packages: count, connections, secondsPerRound: seconds, plugline: side('plugline'), verdaccio: side('verdaccio') };
  result.ratios = {
    metadataRequestsPerSecond: round(result.plugline.metadata.requestsPerSecond.median / result.verdaccio.metadata.requestsPerSecond.median, 2),
    tarballRequestsPerSecond: round(result.plugline.tarball.requestsPerSecond.median / result.verdaccio.tarball.requestsPerSecond.median, 2),
    publishLatency: round(result.verdaccio.publishMs.median / result.plugline.publishMs.median, 2),
  };
  result.target = { metric: 'metadata GET req/s, Plugline / Verdaccio', wanted: 3, measured: result.ratios.metadataRequestsPerSecond, met: result.ratios.metadataRequestsPerSecond >= 3 };
  return result;
}

/** A tiny valid plugin tarball for version `version` of `name`, built in memory (fast enough for 10,000). */
function versionTarball(name, version) {
  const manifest = { name, version, description: `Scaling fixture ${name}`, main: 'index.js', sdk: `^${SDK_VERSION}`, config: { type: 'object', properties: {} }, keywords: ['bench'] };
  return rawTarball([
    { path: 'package/plugin.json', body: JSON.stringify(manifest) },
    { path: 'package/index.js', body: 'export function processEvent(event) { return event; }\n' },
  ]);
}

/**
 * Publishes `sizes` versions of one plugin each (through the HTTP API, `concurrency` in flight), then
 * measures the metadata document (`GET /api/v1/plugins/:name`) and a range resolve
 * (`GET .../versions/^1`) with autocannon.
 */
export async function registryScaling({ plugline, sizes, rounds, seconds, connections, concurrency }) {
  const results = [];
  for (const size of sizes) {
    const name = `scale-${size}`;
    const versions = Array.from({ length: size }, (_, index) => `1.0.${index}`);
    const started = process.hrtime.bigint();
    const publishMs = await mapLimit(versions, concurrency, (version) =>
      publishPlugline(plugline.url, plugline.token, { name, version, tarball: versionTarball(name, version) }),
    );
    const totalSeconds = msSince(started) / 1000;
    log(`section 4: published ${size} versions of ${name} in ${round(totalSeconds, 1)} s (${Math.round(size / totalSeconds)}/s, ${concurrency} in flight)`);
    const head = await fetch(`${plugline.url}/api/v1/plugins/${name}`);
    const documentBytes = (await head.arrayBuffer()).byteLength;
    const doc = [];
    const resolve = [];
    await load(plugline.url, [`/api/v1/plugins/${name}`], { seconds: 1, connections });
    for (let round_ = 1; round_ <= rounds; round_++) {
      doc.push(await load(plugline.url, [`/api/v1/plugins/${name}`], { seconds, connections }));
      resolve.push(await load(plugline.url, [`/api/v1/plugins/${name}/versions/%5E1`], { seconds, connections }));
    }
    for (const run of [...doc, ...resolve]) if (run.errors > 0 || run.non2xx > 0) throw new Error(`${name}: ${run.errors} errors, ${run.non2xx} non-2xx`);
    const pick = (list, key) => summarize(list.map((item) => item[key]));
    results.push({
      versions: size,
      publish: { totalSeconds: round(totalSeconds, 2), perSecond: round(size / totalSeconds, 1), medianMs: round(median(publishMs), 2), p99Ms: round(percentile(publishMs, 99), 2), concurrency, via: 'HTTP API' },
      documentBytes,
      metadata: { requestsPerSecond: pick(doc, 'requestsPerSecond'), latencyMeanMs: pick(doc, 'latencyMean'), latencyP50Ms: pick(doc, 'latencyP50'), latencyP99Ms: pick(doc, 'latencyP99') },
      resolve: { requestsPerSecond: pick(resolve, 'requestsPerSecond'), latencyMeanMs: pick(resolve, 'latencyMean'), latencyP50Ms: pick(resolve, 'latencyP50'), latencyP99Ms: pick(resolve, 'latencyP99') },
    });
    log(`section 4: ${size} versions: document ${documentBytes} B, mean ${results.at(-1).metadata.latencyMeanMs.median.toFixed(2)} ms, p99 ${results.at(-1).metadata.latencyP99Ms.median} ms`);
  }
  return { connections, secondsPerRound: seconds, sizes: results };
}

/**
 * Section 2b: the Plugline registry on each metadata engine (`engines`: `{ label, url, token }`, e.g. the
 * embedded SQLite store and the MongoDB engine on FerretDB), same packages, alternating rounds of
 * metadata and tarball GETs, so the engines are compared within one run.
 */
export async function registryEngines({ engines, count, rounds, seconds, connections }) {
  const packages = [];
  for (let index = 0; index < count; index++) packages.push(await makePackage(`engine-${benchPackageName(index)}`, '1.0.0'));
  const publish = Object.fromEntries(engines.map((engine) => [engine.label, []]));
  for (const pkg of packages) for (const engine of engines) publish[engine.label].push(await publishPlugline(engine.url, engine.token, pkg));
  const paths = {
    metadata: packages.map((pkg) => `/api/v1/plugins/${pkg.name}`),
    tarball: packages.map((pkg) => `/api/v1/plugins/${pkg.name}/-/${pkg.version}.tgz`),
  };
  for (const engine of engines) {
    const response = await fetch(`${engine.url}${paths.tarball.at(-1)}`);
    if (!response.ok || Buffer.compare(new Uint8Array(await response.arrayBuffer()), packages.at(-1).tarball) !== 0) throw new Error(`${engine.label}: the tarball differs from what was published`);
  }
  const runs = Object.fromEntries(engines.map((engine) => [engine.label, { metadata: [], tarball: [] }]));
  for (const kind of ['metadata', 'tarball']) {
    for (const engine of engines) await load(engine.url, paths[kind], { seconds: 1, connections });
    for (let round_ = 1; round_ <= rounds; round_++) {
      const order = round_ % 2 ? engines : [...engines].reverse();
      for (const engine of order) {
        const result = await load(engine.url, paths[kind], { seconds, connections });
        if (result.errors > 0 || result.non2xx > 0) throw new Error(`${engine.label} ${kind}: ${result.errors} errors, ${result.non2xx} non-2xx answers`);
        runs[engine.label][kind].push(result);
        log(`section 2b: ${kind} round ${round_} ${engine.label}: ${Math.round(result.requestsPerSecond)} req/s, p99 ${result.latencyP99} ms`);
      }
    }
  }
  const pick = (list, key) => summarize(list.map((item) => item[key]));
  return {
    packages: count,
    connections,
    secondsPerRound: seconds,
    engines: engines.map(({ label }) => ({
      label,
      metadata: { requestsPerSecond: pick(runs[label].metadata, 'requestsPerSecond'), latencyP99Ms: pick(runs[label].metadata, 'latencyP99') },
      tarball: { requestsPerSecond: pick(runs[label].tarball, 'requestsPerSecond'), latencyP99Ms: pick(runs[label].tarball, 'latencyP99') },
      publishMs: { median: round(median(publish[label]), 2), p99: round(percentile(publish[label], 99), 2), count: publish[label].length },
    })),
  };
}

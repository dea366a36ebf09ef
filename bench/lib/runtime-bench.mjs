// Sections 1 (sandboxed chain vs direct calls) and 4b (throughput vs chain length).
import { randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { packPlugin } from '@plugline/cli';
import { RegistryClient } from '@plugline/registry/client';
import { checkConfig, createSandboxHost, installPlugin, locateIp, MemoryCache, PluginSandbox, parseLineBatch, toLineBatch } from '@plugline/runtime';
import { runProcessEventChain } from '@plugline/sdk';
import { createMeta } from '@plugline/sdk/testing';
import { log, median, percentile, round, runFor, summarize } from './util.mjs';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** The five official plugins of the benchmark chain, in chain order, with the configs they run with. */
export const chainPlugins = [
  { name: 'geoip', config: {} },
  {
    name: 'labeler',
    config: {
      rules: [
        { label: 'page', event: '$page*' },
        { label: 'big-cart', conditions: [{ property: 'cart.total', operator: 'gt', value: 100 }] },
        { label: 'from-se', conditions: [{ property: '$geoip_country_code', operator: 'eq', value: 'SE' }] },
      ],
      defaultLabel: 'other',
    },
  },
  { name: 'hello-world', config: {} },
  {
    name: 'schema-enforcer',
    config: {
      schemas: {
        $pageview: { type: 'object', required: ['$current_url'], properties: { $current_url: { type: 'string' } } },
        purchase: { type: 'object', required: ['cart'], properties: { cart: { type: 'object', required: ['total'], properties: { total: { type: 'number' } } } } },
      },
      // Tag rather than drop, so every event goes through every plugin of the chain.
      onInvalid: 'tag',
      onUnknownEvent: 'allow',
    },
  },
  { name: 'property-filter', config: { properties: ['$ip', 'user.email'] } },
];

const ips = ['81.2.69.142', '89.160.20.112', '2.125.160.216', '8.8.8.8', '216.160.83.56', '67.43.156.1', '175.16.199.1', '202.196.224.1'];
const names = ['$pageview', 'purchase', 'signed_up', '$pageview'];

/** `count` realistic capture events (an IP to locate, a URL, a nested user and cart). */
export function makeEvents(count) {
  return Array.from({ length: count }, (_, index) => ({
    uuid: randomUUID(),
    event: names[index % names.length],
    distinct_id: `user-${index % 97}`,
    team_id: 1,
    timestamp: new Date(1_700_000_000_000 + index * 1000).toISOString(),
    ip: ips[index % ips.length],
    properties: {
      $current_url: `https://example.com/page/${index % 13}`,
      $browser: 'Firefox',
      $ip: ips[index % ips.length],
      user: { email: `user${index}@example.com`, plan: index % 3 ? 'free' : 'pro' },
      cart: { total: (index * 37) % 250, items: index % 5 },
    },
  }));
}

/**
 * Packs the chain plugins with the CLI's `packPlugin` (bundle not written into the plugin folders),
 * publishes them to the registry and installs them with the runtime's `installPlugin` into `cacheDir`.
 */
export async function installChain({ registryUrl, token, workDir, cacheDir }) {
  const client = new RegistryClient({ url: registryUrl, token });
  const installed = {};
  for (const { name } of chainPlugins) {
    const packed = await packPlugin(path.join(repoRoot, 'registry', name), { outDir: workDir, writeBundle: false });
    await client.publish(packed.tarball, { name: packed.manifest.name, version: packed.manifest.version });
    installed[name] = await installPlugin({ registryUrl, spec: `${name}@^${packed.manifest.version.split('.')[0]}`, cacheDir });
    installed[name].tarballBytes = packed.tarball.byteLength;
  }
  return installed;
}

/** A sandbox of an installed plugin with an in-memory host (no logs kept), started and set up. */
export async function startSandbox(plugin, config, limits = {}) {
  const storage = new Map();
  const sandbox = new PluginSandbox({
    name: plugin.name,
    version: plugin.version,
    integrity: plugin.integrity,
    code: plugin.code,
    config: checkConfig(plugin, config),
    capabilities: plugin.manifest.capabilities ?? [],
    ...limits,
    host: createSandboxHost({
      sink: { log() {}, metric() {} },
      storage: { get: (key) => storage.get(key) ?? null, set: (key, value) => void storage.set(key, value), del: (key) => void storage.delete(key) },
      cache: new MemoryCache(),
      postgres: false,
    }),
  });
  await sandbox.start();
  const failure = await sandbox.callHook('setupPlugin');
  if (failure) throw new Error(`${plugin.name} setupPlugin: ${failure.message}`);
  return sandbox;
}

/** The same bundle the sandbox runs, imported into this process, with a host-equivalent meta. */
export async function directStep(plugin, config) {
  const module = await import(pathToFileURL(path.join(plugin.dir, plugin.manifest.main)).href);
  const definition = module.default && typeof module.default === 'object' ? module.default : module;
  const meta = createMeta({ config: checkConfig(plugin, config), geoip: { locate: async (ip) => locateIp(ip) } });
  await definition.setupPlugin?.(meta);
  return { name: plugin.name, version: plugin.version, processEvent: definition.processEvent?.bind(definition), meta };
}

let sandboxedChainDriver;
/** The runtime's own sandboxed chain driver, else (older runtime builds) an equivalent loop. */
export async function chainDriver() {
  if (sandboxedChainDriver) return sandboxedChainDriver;
  const runtime = await import('@plugline/runtime');
  if (typeof runtime.runSandboxedChain === 'function') {
    sandboxedChainDriver = { run: runtime.runSandboxedChain, source: '@plugline/runtime runSandboxedChain (the driver Runtime.ingest uses)' };
  } else {
    sandboxedChainDriver = {
      source: 'bench loop over PluginSandbox.processBatch',
      run: async (steps, input) => {
        let batch = toLineBatch(input);
        for (const step of steps) batch = (await step.sandbox.processBatch(batch, input.length)).output;
        return { events: parseLineBatch(batch) };
      },
    };
  }
  return sandboxedChainDriver;
}

/** Runs a batch through sandboxes (`kind: 'sandboxed'`) or direct steps; checks the output once. */
export function makeRunner(kind, steps, driver) {
  if (kind === 'sandboxed') {
    const sandboxSteps = steps.map((sandbox) => ({ name: sandbox.name, version: sandbox.version, sandbox }));
    return async (batch) => {
      const result = await driver.run(sandboxSteps, batch);
      return result.events;
    };
  }
  if (kind === 'bare') {
    // The plain limit: one copy of the event, then each processEvent called in turn, no per-step copies or checks.
    return (batch) =>
      Promise.all(
        batch.map(async (input) => {
          let event = cloneJson(input);
          for (const step of steps) {
            if (!step.processEvent) continue;
            event = await step.processEvent(event, step.meta);
            if (!event) return null;
          }
          return event;
        }),
      );
  }
  // The SDK driver with the fastest exact JSON copy (the isolate uses the same kind of copy).
  return async (batch) => (await Promise.all(batch.map((event) => runProcessEventChain(steps, event, { stamp: true, clone: cloneJson })))).map((result) => result.event);
}

/**
 * What one host service call costs inside a sandbox: the same trivial plugin with no host call, with
 * `meta.metrics.increment` (a synchronous crossing to the host) and with `await meta.geoip.locate`
 * (an asynchronous crossing). Explains where the chain's time goes.
 */
async function hostCallCosts(events, options) {
  const variants = {
    'no host call': 'export function processEvent(event) { event.properties.x = 1; return event; }',
    'metrics.increment (sync crossing)': "export function processEvent(event, { metrics }) { metrics.increment('x'); return event; }",
    'geoip.locate (async crossing)': "export async function processEvent(event, { geoip }) { await geoip.locate('8.8.8.8'); return event; }",
  };
  const driver = await chainDriver();
  const rows = [];
  for (const [label, code] of Object.entries(variants)) {
    const plugin = { name: 'probe', version: '1.0.0', integrity: `sha512-${Buffer.from(label).toString('base64')}`, code, manifest: { config: { type: 'object', properties: {} } } };
    const sandbox = await startSandbox(plugin, {});
    const result = await throughput(makeRunner('sandboxed', [sandbox], driver), events, options);
    sandbox.dispose();
    rows.push({ variant: label, eventsPerSecond: result.eventsPerSecond, microsPerEvent: round(1e6 / result.eventsPerSecond.median, 2) });
    log(`section 1: host-call probe "${label}": ${result.eventsPerSecond.median} events/s`);
  }
  const base = rows[0].microsPerEvent;
  for (const row of rows) row.addedMicrosPerCall = round(row.microsPerEvent - base, 2);
  return rows;
}

/**
 * The floor of the one-isolate-per-plugin design: an isolate can only receive events as text and must
 * parse them, and the next one needs them serialised again. Times, in this process's V8, JSON.parse of
 * each step's real input events and JSON.stringify of its real output events, one event at a time as
 * the runtime does (plus the host's stringify of the batch and parse of the chain's output), per
 * event. The sum bounds what any runtime that copies events into one isolate per plugin as JSON can
 * reach here, even with plugins that cost nothing.
 */
async function jsonCopyFloor(sandboxes, events) {
  const timeMicrosPerEvent = (work) => {
    for (let index = 0; index < 20; index++) work();
    const samples = [];
    for (let round_ = 0; round_ < 7; round_++) {
      const start = process.hrtime.bigint();
      for (let index = 0; index < 20; index++) work();
      samples.push(Number(process.hrtime.bigint() - start) / 1000 / 20 / events.length);
    }
    return median(samples);
  };
  const parseEach = (lines) => () => {
    for (const line of lines) JSON.parse(line);
  };
  const stringifyEach = (values) => () => {
    for (const value of values) JSON.stringify(value);
  };
  const steps = [];
  let batch = toLineBatch(events);
  const hostStringify = timeMicrosPerEvent(stringifyEach(events));
  for (const sandbox of sandboxes) {
    const inputLines = parseLineBatch(batch).map((event) => JSON.stringify(event));
    batch = (await sandbox.processBatch(batch, events.length)).output;
    const output = parseLineBatch(batch);
    const outputBytes = output.reduce((sum, event) => sum + JSON.stringify(event).length, 0);
    steps.push({
      plugin: sandbox.name,
      inputBytesPerEvent: Math.round(inputLines.reduce((sum, line) => sum + line.length, 0) / events.length),
      outputBytesPerEvent: Math.round(outputBytes / events.length),
      parseMicros: round(timeMicrosPerEvent(parseEach(inputLines)), 2),
      stringifyMicros: round(timeMicrosPerEvent(stringifyEach(output)), 2),
    });
  }
  const finalLines = parseLineBatch(batch).map((event) => JSON.stringify(event));
  const hostParse = timeMicrosPerEvent(parseEach(finalLines));
  const total = hostStringify + hostParse + steps.reduce((sum, step) => sum + step.parseMicros + step.stringifyMicros, 0);
  // Even one isolate for the whole chain copies the batch in once and out once.
  const single = hostStringify + steps[0].parseMicros + steps.at(-1).stringifyMicros + hostParse;
  return {
    steps,
    hostStringifyMicros: round(hostStringify, 2),
    hostParseMicros: round(hostParse, 2),
    microsPerEvent: round(total, 2),
    maxEventsPerSecond: Math.round(1e6 / total),
    singleIsolateMicrosPerEvent: round(single, 2),
    singleIsolateMaxEventsPerSecond: Math.round(1e6 / single),
  };
}

/**
 * Before/after on one machine in one process: `PLUGLINE_BASELINE_RUNTIME` names another build of
 * @plugline/runtime (its dist/index.js); the same five plugins run through its sandbox and chain driver
 * and through this build's, alternating rounds so both see the same load.
 */
async function baselineRuntime(entry, installed, current, events, { rounds, seconds, warmupSeconds }) {
  // Relative to where `npm run bench` was started (npm runs the script in bench/).
  const resolved = path.resolve(process.env.INIT_CWD ?? process.cwd(), entry);
  const other = await import(pathToFileURL(resolved).href);
  const steps = [];
  for (const { name, config } of chainPlugins) {
    const plugin = installed[name];
    const storage = new Map();
    const sandbox = new other.PluginSandbox({
      name: plugin.name,
      version: plugin.version,
      integrity: `${plugin.integrity}-baseline`,
      code: plugin.code,
      config: other.checkConfig(plugin, config),
      capabilities: plugin.manifest.capabilities ?? [],
      host: other.createSandboxHost({
        sink: { log() {}, metric() {} },
        storage: { get: (key) => storage.get(key) ?? null, set: (key, value) => void storage.set(key, value), del: (key) => void storage.delete(key) },
        cache: new other.MemoryCache(),
        postgres: false,
      }),
    });
    await sandbox.start();
    await sandbox.callHook('setupPlugin');
    steps.push({ name: sandbox.name, version: sandbox.version, sandbox });
  }
  const runBaseline = async (batch) => (await other.runSandboxedChain(steps, batch)).events;
  const rates = { current: [], baseline: [] };
  await runFor(warmupSeconds * 1000, () => runBaseline(events));
  for (let round_ = 0; round_ < rounds; round_++) {
    for (const [label, run] of [['current', current], ['baseline', runBaseline]]) {
      const { iterations, seconds: elapsed } = await runFor(seconds * 1000, () => run(events));
      rates[label].push(Math.round((iterations * events.length) / elapsed));
    }
  }
  for (const { sandbox } of steps) sandbox.dispose();
  const result = { entry: path.relative(repoRoot, resolved), current: summarize(rates.current), baseline: summarize(rates.baseline) };
  result.speedup = round(result.current.median / result.baseline.median, 2);
  log(`section 1: this build ${result.current.median} events/s vs baseline ${result.baseline.median} events/s (${result.speedup}x), alternating rounds`);
  return result;
}

/** events/s over `rounds` rounds of `seconds` each, with a warm-up; plus CPU cores used. */
export async function throughput(run, batch, { rounds, seconds, warmupSeconds }) {
  await runFor(warmupSeconds * 1000, () => run(batch));
  const rates = [];
  const cores = [];
  for (let round_ = 0; round_ < rounds; round_++) {
    const { iterations, seconds: elapsed, cpuSeconds } = await runFor(seconds * 1000, () => run(batch));
    rates.push((iterations * batch.length) / elapsed);
    cores.push(cpuSeconds / elapsed);
  }
  return { eventsPerSecond: summarize(rates.map((rate) => Math.round(rate))), cpuCoresUsed: round(median(cores), 2) };
}

/** Latency of single events (batch of one) through the chain, in microseconds. */
async function singleEventLatency(run, events, count) {
  for (let index = 0; index < Math.min(200, count); index++) await run([events[index % events.length]]);
  const micros = [];
  for (let index = 0; index < count; index++) {
    const start = process.hrtime.bigint();
    await run([events[index % events.length]]);
    micros.push(Number(process.hrtime.bigint() - start) / 1000);
  }
  return { p50: round(percentile(micros, 50), 1), p99: round(percentile(micros, 99), 1), samples: count };
}

function cloneJson(value) {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map(cloneJson);
  const out = {};
  for (const key of Object.keys(value)) out[key] = cloneJson(value[key]);
  return out;
}

function mb(bytes) {
  return round(bytes / 1024 / 1024, 2);
}

/** Section 1 and 4b. `installed` comes from {@link installChain}. */
export async function runtimeBench({ installed, batchSize, rounds, seconds, warmupSeconds, latencySamples, lengths }) {
  const driver = await chainDriver();
  const events = makeEvents(batchSize);
  // Marginal memory of a loaded plugin, measured first (before any isolate was disposed): RSS growth
  // over 20 new hello-world isolates that each ran one batch.
  const probeCount = 20;
  gc();
  const rssBefore = process.memoryUsage().rss;
  const probes = [];
  for (let index = 0; index < probeCount; index++) probes.push(await startSandbox(installed['hello-world'], {}));
  await makeRunner('sandboxed', probes, driver)(events.slice(0, 100));
  gc();
  const rssPerIsolate = { isolates: probeCount, mb: mb((process.memoryUsage().rss - rssBefore) / probeCount) };
  for (const probe of probes) probe.dispose();

  const sandboxes = [];
  for (const { name, config } of chainPlugins) sandboxes.push(await startSandbox(installed[name], config));
  const direct = [];
  for (const { name, config } of chainPlugins) direct.push(await directStep(installed[name], config));
  const sandboxed = makeRunner('sandboxed', sandboxes, driver);
  const directRun = makeRunner('direct', direct, driver);
  const bareRun = makeRunner('bare', direct, driver);

  // Same output both ways (modulo the $plugins_* stamps' order, which both put in chain order).
  const sample = makeEvents(8);
  const viaSandbox = await sandboxed(sample);
  const viaDirect = await directRun(sample);
  const equal = JSON.stringify(viaSandbox) === JSON.stringify(viaDirect);
  if (!equal) log('section 1: NOTE sandboxed and direct outputs differ for the sample events (see results.runtime.outputsEqual)');
  const check = viaSandbox.filter(Boolean)[0];
  if (!check?.properties?.label || check.properties.hello !== 'world' || check.properties.$ip !== undefined || !check.properties.$geoip_country_code) {
    throw new Error(`the chain did not do its work: ${JSON.stringify(check)}`);
  }

  log(`section 1: throughput, batch ${batchSize}, ${rounds} x ${seconds} s, driver: ${driver.source}`);
  const options = { rounds, seconds, warmupSeconds };
  const sandboxedResult = await throughput(sandboxed, events, options);
  log(`section 1: sandboxed ${sandboxedResult.eventsPerSecond.median} events/s (${sandboxedResult.cpuCoresUsed} cores busy)`);
  const baseline = process.env.PLUGLINE_BASELINE_RUNTIME ? await baselineRuntime(process.env.PLUGLINE_BASELINE_RUNTIME, installed, sandboxed, events, options) : undefined;
  // Two batches in flight, as Runtime.ingest pipelines them: each isolate works on its own thread, so
  // batch n+1 can be in one plugin while batch n is in the next (this can use more than one core).
  const pipelined = async (batch) => {
    const half = batch.length / 2;
    const [first, second] = await Promise.all([sandboxed(batch.slice(0, half)), sandboxed(batch.slice(half))]);
    return first.concat(second);
  };
  const pipelinedResult = await throughput(pipelined, makeEvents(batchSize * 2), options);
  log(`section 1: sandboxed, 2 batches in flight ${pipelinedResult.eventsPerSecond.median} events/s (${pipelinedResult.cpuCoresUsed} cores busy)`);
  const directResult = await throughput(directRun, events, options);
  log(`section 1: direct (SDK driver) ${directResult.eventsPerSecond.median} events/s (${directResult.cpuCoresUsed} cores busy)`);
  const bareResult = await throughput(bareRun, events, options);
  log(`section 1: direct (bare calls) ${bareResult.eventsPerSecond.median} events/s (${bareResult.cpuCoresUsed} cores busy)`);
  const hostCalls = await hostCallCosts(events, options);
  const jsonFloor = await jsonCopyFloor(sandboxes, events);
  log(`section 1: JSON copy floor ${jsonFloor.microsPerEvent} µs/event = at most ${jsonFloor.maxEventsPerSecond} events/s with one isolate per plugin`);

  const memory = [];
  for (const sandbox of sandboxes) {
    const stats = await sandbox.heapStatistics();
    memory.push({ plugin: sandbox.name, usedHeapMB: mb(stats.used_heap_size), totalHeapMB: mb(stats.total_heap_size), externalMB: mb(stats.externally_allocated_size), mallocedMB: mb(stats.malloced_memory) });
  }

  log(`section 1: single-event latency, ${latencySamples} samples each`);
  const latencySandboxed = await singleEventLatency(sandboxed, events, latencySamples);
  const latencyDirect = await singleEventLatency(directRun, events, latencySamples);
  const latencyBare = await singleEventLatency(bareRun, events, latencySamples);

  // Section 4b: chain length. "mixed" cycles the five real plugins (1 = geoip, 10 = the five twice, each
  // its own isolate); "hello-world" repeats the cheapest plugin, so the numbers show the per-step cost.
  const scaling = [];
  for (const series of ['hello-world', 'mixed']) {
    for (const length of lengths) {
      const specs = Array.from({ length }, (_, index) => (series === 'mixed' ? chainPlugins[index % chainPlugins.length] : chainPlugins[2]));
      const boxes = [];
      for (const spec of specs) {
        const box = await startSandbox(installed[spec.name], spec.config);
        boxes.push(box);
      }
      const steps = [];
      for (const spec of specs) steps.push(await directStep(installed[spec.name], spec.config));
      const s = await throughput(makeRunner('sandboxed', boxes, driver), events, options);
      const d = await throughput(makeRunner('bare', steps, driver), events, options);
      const row = {
        series,
        length,
        sandboxed: s.eventsPerSecond,
        bare: d.eventsPerSecond,
        sandboxedMicrosPerEvent: round(1e6 / s.eventsPerSecond.median, 2),
        bareMicrosPerEvent: round(1e6 / d.eventsPerSecond.median, 2),
      };
      row.sandboxedMicrosPerEventPerPlugin = round(row.sandboxedMicrosPerEvent / length, 2);
      scaling.push(row);
      log(`section 4: chain ${series} x${length}: sandboxed ${s.eventsPerSecond.median} events/s, bare ${d.eventsPerSecond.median} events/s`);
      for (const box of boxes) box.dispose();
    }
  }
  for (const box of sandboxes) box.dispose();

  const ratio = round(sandboxedResult.eventsPerSecond.median / directResult.eventsPerSecond.median, 3);
  const ratioVsBare = round(sandboxedResult.eventsPerSecond.median / bareResult.eventsPerSecond.median, 3);
  return {
    chain: chainPlugins.map(({ name }) => `${name}@${installed[name].version}`),
    batchSize,
    driver: driver.source,
    outputsEqual: equal,
    sandboxed: sandboxedResult,
    sandboxedPipelined: pipelinedResult,
    ...(baseline ? { baseline } : {}),
    direct: directResult,
    bare: bareResult,
    ratio,
    ratioVsBare,
    latencyMicros: {
      sandboxed: latencySandboxed,
      direct: latencyDirect,
      bare: latencyBare,
      addedP50: round(latencySandboxed.p50 - latencyDirect.p50, 1),
      addedP99: round(latencySandboxed.p99 - latencyDirect.p99, 1),
      addedP50VsBare: round(latencySandboxed.p50 - latencyBare.p50, 1),
      addedP99VsBare: round(latencySandboxed.p99 - latencyBare.p99, 1),
    },
    hostCalls,
    jsonFloor,
    memory: {
      perPlugin: memory,
      averageTotalHeapMB: round(memory.reduce((sum, item) => sum + item.totalHeapMB, 0) / memory.length, 2),
      rssPerIsolateMB: rssPerIsolate.mb,
      note: `process RSS growth per isolate, measured over ${rssPerIsolate.isolates} new hello-world isolates that each ran one batch, before anything else`,
    },
    targets: [
      { metric: 'sandboxed / direct (SDK driver, same semantics) events/s', wanted: 1 / 3, measured: ratio, met: ratio >= 1 / 3 },
      { metric: 'sandboxed / direct (bare calls) events/s', wanted: 1 / 3, measured: ratioVsBare, met: ratioVsBare >= 1 / 3 },
      { metric: 'sandboxed events/s', wanted: 100_000, measured: sandboxedResult.eventsPerSecond.median, met: sandboxedResult.eventsPerSecond.median >= 100_000 },
    ],
    scaling,
  };
}

function gc() {
  globalThis.gc?.();
}

export async function writeJson(file, value) {
  await writeFile(file, `${JSON.stringify(value, null, 2)}\n`);
}

// Benchmark (not a test): events/s through a chain of 5 light plugins, sandboxed (one isolated-vm
// isolate per plugin, batches crossing once per plugin) vs the same plugin functions called directly
// in this process with the SDK's chain driver. Medians over rounds. Run: npm run bench -w @plugline/runtime
// (build first). Options: ROUNDS, EVENTS (per round), BATCH (events per crossing).
import { runProcessEventChain } from '@plugline/sdk';
import { MemoryCache, PluginSandbox, createSandboxHost, runSandboxedChain } from '../dist/index.js';

const ROUNDS = Number(process.env.ROUNDS ?? 7);
const EVENTS = Number(process.env.EVENTS ?? 20_000);
const BATCH = Number(process.env.BATCH ?? 1000);
// Batches in flight at once in the pipelined row (the runtime's maxConcurrentBatches, default 2).
const PIPELINE = Number(process.env.PIPELINE ?? 2);

// Five light plugins, as ESM bundles (what `plugline pack` produces).
const plugins = [
  ['utm-tagger', `export default { processEvent(event) { const url = event.properties.$current_url; if (typeof url === 'string') { const i = url.indexOf('utm_campaign='); if (i >= 0) event.properties.campaign = url.slice(i + 13).split('&')[0]; } return event; } };`],
  ['bot-filter', `export default { processEvent(event) { return /bot|crawler/i.test(String(event.properties.$user_agent ?? '')) ? null : event; } };`],
  ['labeler', `export default { processEvent(event) { event.properties.label = event.event === '$pageview' ? 'view' : 'action'; return event; } };`],
  ['property-filter', `export default { processEvent(event) { delete event.properties.$secret; return event; } };`],
  ['hello-world', `export default { processEvent(event) { event.properties.hello = 'world'; return event; } };`],
];

function makeEvents(count) {
  return Array.from({ length: count }, (_, i) => ({
    uuid: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    event: i % 3 === 0 ? 'signed_up' : '$pageview',
    distinct_id: `user-${i % 500}`,
    timestamp: '2026-01-01T00:00:00.000Z',
    properties: {
      $current_url: `https://example.com/pricing?utm_campaign=spring&ref=${i}`,
      $user_agent: i % 10 === 0 ? 'Googlebot/2.1' : 'Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0',
      $browser: 'Chrome',
      $secret: 'drop-me',
      plan: i % 2 ? 'pro' : 'free',
    },
  }));
}

// The fastest exact copy of a JSON event; both sides use it so the comparison is about the boundary.
function cloneJson(value) {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map(cloneJson);
  const out = {};
  for (const key of Object.keys(value)) out[key] = cloneJson(value[key]);
  return out;
}

async function direct(events) {
  const modules = await Promise.all(plugins.map(([, code]) => import(`data:text/javascript,${encodeURIComponent(code)}`)));
  const steps = plugins.map(([name], i) => ({ name, version: '1.0.0', processEvent: modules[i].default.processEvent, meta: {} }));
  return async () => {
    let kept = 0;
    for (const event of events) if ((await runProcessEventChain(steps, event, { stamp: true, clone: cloneJson })).event) kept++;
    return kept;
  };
}

async function sandboxed(events, pipeline, latencies) {
  const host = createSandboxHost({ sink: { log() {}, metric() {} }, storage: { get: () => null, set() {}, del() {} }, cache: new MemoryCache(), postgres: false });
  const steps = [];
  for (const [name, code] of plugins) {
    const sandbox = new PluginSandbox({ name, version: '1.0.0', integrity: `bench-${name}`, code, config: {}, host });
    await sandbox.start();
    steps.push({ name, version: '1.0.0', sandbox });
  }
  if (latencies === batchLatencies) {
    const loaded = await Promise.all(steps.map((step) => step.sandbox.heapStatistics()));
    loadedHeap.push(...loaded.map((stat) => stat.used_heap_size + stat.externally_allocated_size));
  }
  const run = async () => {
    let kept = 0;
    let next = 0;
    const lane = async () => {
      while (next < events.length) {
        const start = next;
        next += BATCH;
        const started = performance.now();
        const { events: out } = await runSandboxedChain(steps, events.slice(start, start + BATCH));
        latencies.push(performance.now() - started);
        for (const event of out) if (event) kept++;
      }
    };
    await Promise.all(Array.from({ length: pipeline }, lane));
    return kept;
  };
  run.dispose = () => steps.forEach((step) => step.sandbox.dispose());
  run.heapBytes = async () => {
    const stats = await Promise.all(steps.map((step) => step.sandbox.heapStatistics()));
    return stats.map((stat) => stat.used_heap_size + stat.externally_allocated_size);
  };
  return run;
}

const batchLatencies = [];
const loadedHeap = [];
const percentile = (values, p) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))];
const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

const events = makeEvents(EVENTS);
const pipelined = `sandboxed, ${PIPELINE} batches in flight`;
const sandboxedRun = await sandboxed(events, 1, batchLatencies);
const pipelineRun = await sandboxed(events, PIPELINE, []);
const runners = { direct: await direct(events), sandboxed: sandboxedRun, [pipelined]: pipelineRun };
const rates = Object.fromEntries(Object.keys(runners).map((name) => [name, []]));
const cpu = Object.fromEntries(Object.keys(runners).map((name) => [name, []]));
const keptBy = {};
for (const name of Object.keys(runners)) await runners[name](); // warm-up (JIT, code caches)
for (let round = 0; round < ROUNDS; round++) {
  for (const name of Object.keys(runners)) {
    const started = performance.now();
    const cpuBefore = process.cpuUsage();
    keptBy[name] = await runners[name]();
    const used = process.cpuUsage(cpuBefore);
    rates[name].push(EVENTS / ((performance.now() - started) / 1000));
    // CPU time of every thread of the process (isolates run on isolated-vm's threads): robust on a busy machine.
    cpu[name].push((used.user + used.system) / EVENTS);
  }
}
const heap = await runners.sandboxed.heapBytes();
runners.sandboxed.dispose();
pipelineRun.dispose();
if (keptBy.direct !== keptBy.sandboxed) throw new Error(`outputs differ: direct kept ${keptBy.direct}, sandboxed ${keptBy.sandboxed}`);

const rows = Object.keys(rates).map((name) => ({
  mode: name,
  'events/s (median)': Math.round(median(rates[name])).toLocaleString('en-US'),
  'us/event (wall)': (1e6 / median(rates[name])).toFixed(2),
  'cpu us/event': median(cpu[name]).toFixed(2),
  'events/s per core (cpu)': Math.round(1e6 / median(cpu[name])).toLocaleString('en-US'),
  min: Math.round(Math.min(...rates[name])).toLocaleString('en-US'),
  max: Math.round(Math.max(...rates[name])).toLocaleString('en-US'),
}));
console.log(`\n5-plugin chain, ${EVENTS} events x ${ROUNDS} rounds, ${BATCH} events per sandbox crossing (node ${process.version}, ${(await import('node:os')).availableParallelism()} cores)`);
console.table(rows);
const ratio = median(rates.sandboxed) / median(rates.direct);
const cpuRatio = median(cpu.direct) / median(cpu.sandboxed);
console.log(`sandboxed batch latency (${BATCH} events through 5 plugins): p50 ${percentile(batchLatencies, 0.5).toFixed(1)} ms, p99 ${percentile(batchLatencies, 0.99).toFixed(1)} ms`);
const mb = (bytes) => `${(bytes / 1024 / 1024).toFixed(1)} MB`;
console.log(`isolate heap per plugin: ${loadedHeap.map(mb).join(', ')} when loaded; ${heap.map(mb).join(', ')} after the run (garbage included)`);
console.log(`sandboxed / direct: ${ratio.toFixed(2)} by wall clock, ${cpuRatio.toFixed(2)} by CPU time (target >= 0.33)`);
console.log(`sandboxed events/s: ${Math.round(median(rates.sandboxed)).toLocaleString('en-US')} wall, ${Math.round(1e6 / median(cpu.sandboxed)).toLocaleString('en-US')} per core of CPU time (target >= 100,000 on one core)`);
console.log(`pipelined (${PIPELINE} batches in flight, as the runtime does): ${Math.round(median(rates[pipelined])).toLocaleString('en-US')} events/s wall`);

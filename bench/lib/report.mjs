// Turns the results object into a Markdown report and a small SVG bar chart (no chart library).

const fmt = (value, digits = 0) =>
  typeof value === 'number' && Number.isFinite(value) ? value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 }) : String(value ?? 'n/a');
const range = (summary, digits = 0) => `${fmt(summary.median, digits)} (${fmt(summary.min, digits)}–${fmt(summary.max, digits)})`;
const yes = (met) => (met ? 'met' : '**missed**');

/** The Markdown report (tables with medians and min–max over the rounds). */
export function markdownReport(results) {
  const { machine } = results;
  const lines = [];
  lines.push(`# Plugline benchmark results${results.quick ? ' (quick smoke run: fewer, shorter rounds)' : ''}`, '');
  lines.push(`- Date: ${results.date}`);
  lines.push(`- Machine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB RAM, ${machine.platform}`);
  lines.push(`- Node ${machine.node} (V8 ${machine.v8}), npm ${results.install?.npmVersion ?? 'n/a'}, Verdaccio ${results.verdaccioVersion}`);
  lines.push(`- Load average (1/5/15 min) at start ${results.loadAverage.start.join(' / ')}, at end ${results.loadAverage.end.join(' / ')}; the CPU was shared with other work, so treat small differences as noise.`);
  lines.push(`- Medians over repeated rounds, with (min–max). Reproduce: \`npm run bench\` (or \`npm run bench -- --quick\`) at the repository root.`, '');

  lines.push('## Targets', '', '| Target | Wanted | Measured | |', '|---|---|---|---|');
  for (const target of results.targets) lines.push(`| ${target.metric} | ≥ ${fmt(target.wanted, 2)} | ${fmt(target.measured, 3)} | ${yes(target.met)} |`);
  lines.push('');

  const rt = results.runtime;
  if (rt) {
    lines.push(`## 1. Runtime: ${rt.chain.join(' → ')}`, '');
    lines.push(`Packed with the CLI's \`packPlugin\`, published to a registry started by the bench, installed with \`installPlugin\`; batches of ${rt.batchSize} events; driver: ${rt.driver}. Outputs of sandboxed and direct runs equal: ${rt.outputsEqual}.`, '');
    lines.push('| Mode | events/s | CPU cores busy |', '|---|---|---|');
    lines.push(`| Sandboxed (one isolate per plugin) | ${range(rt.sandboxed.eventsPerSecond)} | ${rt.sandboxed.cpuCoresUsed} |`);
    if (rt.sandboxedPipelined) lines.push(`| Sandboxed, 2 batches in flight (as \`Runtime.ingest\` pipelines) | ${range(rt.sandboxedPipelined.eventsPerSecond)} | ${rt.sandboxedPipelined.cpuCoresUsed} |`);
    lines.push(`| Direct, in process, SDK chain driver (same copy-per-step semantics) | ${range(rt.direct.eventsPerSecond)} | ${rt.direct.cpuCoresUsed} |`);
    lines.push(`| Direct, in process, bare calls (the limit) | ${range(rt.bare.eventsPerSecond)} | ${rt.bare.cpuCoresUsed} |`);
    lines.push('', `Sandboxed / direct (SDK driver): **${fmt(rt.ratio, 3)}**; sandboxed / bare calls: **${fmt(rt.ratioVsBare, 3)}**.`, '');
    if (rt.baseline) {
      lines.push(`Against a baseline build of the runtime (\`${rt.baseline.entry}\`), the same plugins and batches, alternating rounds in this process: this build ${range(rt.baseline.current)} events/s, the baseline ${range(rt.baseline.baseline)} events/s: **${fmt(rt.baseline.speedup, 2)}×**.`, '');
    }
    const l = rt.latencyMicros;
    lines.push('Per-event latency (one event through the whole chain, µs):', '', '| Mode | p50 | p99 |', '|---|---|---|');
    lines.push(`| Sandboxed | ${fmt(l.sandboxed.p50, 1)} | ${fmt(l.sandboxed.p99, 1)} |`, `| Direct (SDK driver) | ${fmt(l.direct.p50, 1)} | ${fmt(l.direct.p99, 1)} |`, `| Bare calls | ${fmt(l.bare.p50, 1)} | ${fmt(l.bare.p99, 1)} |`);
    lines.push(`| **Added by the sandbox** (vs SDK driver) | **${fmt(l.addedP50, 1)}** | **${fmt(l.addedP99, 1)}** |`, '');
    lines.push('Cost of one host-service call inside a sandbox (one trivial plugin, same batches):', '', '| Plugin body | events/s | µs/event | added µs per call |', '|---|---|---|---|');
    for (const row of rt.hostCalls) lines.push(`| ${row.variant} | ${range(row.eventsPerSecond)} | ${fmt(row.microsPerEvent, 2)} | ${fmt(row.addedMicrosPerCall, 2)} |`);
    if (rt.jsonFloor) {
      const floor = rt.jsonFloor;
      lines.push('', 'Why the sandboxed chain cannot go much faster with one isolate per plugin: each isolate receives the batch as JSON and hands it on as JSON. Time per event of exactly that copying, measured in this process\'s V8 on the chain\'s real per-step events:', '', '| Step | bytes in → out per event | JSON.parse µs | JSON.stringify µs |', '|---|---|---|---|');
      lines.push(`| host: batch in, chain output out | | ${fmt(floor.hostParseMicros, 2)} | ${fmt(floor.hostStringifyMicros, 2)} |`);
      for (const step of floor.steps) lines.push(`| ${step.plugin} | ${step.inputBytesPerEvent} → ${step.outputBytesPerEvent} | ${fmt(step.parseMicros, 2)} | ${fmt(step.stringifyMicros, 2)} |`);
      lines.push('', `Total **${fmt(floor.microsPerEvent, 2)} µs per event**: with plugins that cost nothing, the copying alone caps this chain at **${fmt(floor.maxEventsPerSecond)} events/s** on this machine; the sandboxed run reaches ${fmt(rt.sandboxed.eventsPerSecond.median / floor.maxEventsPerSecond, 2)} of that cap. Even a single isolate for the whole chain would copy ${fmt(floor.singleIsolateMicrosPerEvent, 2)} µs per event in and out; added to the plugins' own work (bare calls: ${fmt(1e6 / rt.bare.eventsPerSecond.median, 2)} µs per event) that is at most ${fmt(1e6 / (floor.singleIsolateMicrosPerEvent + 1e6 / rt.bare.eventsPerSecond.median))} events/s.`);
    }
    lines.push('', 'Memory per loaded plugin (isolate heap statistics after the throughput rounds):', '', '| Plugin | used heap MB | total heap MB | external MB |', '|---|---|---|---|');
    for (const row of rt.memory.perPlugin) lines.push(`| ${row.plugin} | ${fmt(row.usedHeapMB, 2)} | ${fmt(row.totalHeapMB, 2)} | ${fmt(row.externalMB, 2)} |`);
    lines.push('', `Average total heap per isolate: ${fmt(rt.memory.averageTotalHeapMB, 2)} MB; process RSS growth per loaded plugin: ${fmt(rt.memory.rssPerIsolateMB, 1)} MB (${rt.memory.note}).`, '');
  }
  const light = results.runtimeLightChain;
  if (light && !light.error) {
    lines.push(`The runtime package's own chain benchmark (\`${light.script}\`, five light synthetic plugins without host calls): sandboxed / direct ${fmt(light.ratioWall, 2)} by wall clock (${fmt(light.ratioCpu, 2)} by CPU time), sandboxed ${fmt(light.sandboxedEventsPerSecondWall)} events/s wall, ${fmt(light.sandboxedEventsPerSecondPerCore)} per core of CPU time${light.pipelinedEventsPerSecond ? `, ${fmt(light.pipelinedEventsPerSecond)} events/s with 2 batches in flight` : ''}.`, '');
  } else if (light?.error) lines.push(`The runtime package's own chain benchmark failed: ${light.error}`, '');

  const ingest = results.ingest;
  if (ingest) {
    lines.push(`## 5. Ingest with onEvent (\`Runtime.ingest\` through ${ingest.plugins.join(', ')}, until onEvent settled)`, '');
    lines.push(`| Events a batch | This build events/s | ${ingest.baseline ? `Baseline (\`${ingest.baseline}\`) events/s | This / baseline |` : ''}`, `|---|---|${ingest.baseline ? '---|---|' : ''}`);
    for (const row of ingest.rows) lines.push(`| ${row.batchSize} | ${range(row.current)} |${row.baseline ? ` ${range(row.baseline)} | **${fmt(row.ratio, 3)}** |` : ''}`);
    lines.push('');
  }
  const reg = results.registry;
  if (reg) {
    lines.push(`## 2. Registry vs Verdaccio (${reg.packages} published packages, autocannon with ${reg.connections} connections from the bench process, ${reg.secondsPerRound} s rounds)`, '');
    lines.push('| | Plugline | Verdaccio | Plugline / Verdaccio |', '|---|---|---|---|');
    lines.push(`| Metadata GET req/s | ${range(reg.plugline.metadata.requestsPerSecond)} | ${range(reg.verdaccio.metadata.requestsPerSecond)} | **${fmt(reg.ratios.metadataRequestsPerSecond, 2)}** |`);
    lines.push(`| Metadata GET mean ms | ${range(reg.plugline.metadata.latencyMeanMs, 2)} | ${range(reg.verdaccio.metadata.latencyMeanMs, 2)} | |`);
    lines.push(`| Metadata GET p99 ms | ${range(reg.plugline.metadata.latencyP99Ms, 1)} | ${range(reg.verdaccio.metadata.latencyP99Ms, 1)} | |`);
    lines.push(`| Tarball GET req/s | ${range(reg.plugline.tarball.requestsPerSecond)} | ${range(reg.verdaccio.tarball.requestsPerSecond)} | ${fmt(reg.ratios.tarballRequestsPerSecond, 2)} |`);
    lines.push(`| Tarball GET p99 ms | ${range(reg.plugline.tarball.latencyP99Ms, 1)} | ${range(reg.verdaccio.tarball.latencyP99Ms, 1)} | |`);
    lines.push(`| Publish latency ms, median (p99) over ${reg.plugline.publishMs.count} | ${fmt(reg.plugline.publishMs.median, 1)} (${fmt(reg.plugline.publishMs.p99, 1)}) | ${fmt(reg.verdaccio.publishMs.median, 1)} (${fmt(reg.verdaccio.publishMs.p99, 1)}) | ${fmt(reg.ratios.publishLatency, 2)}× faster |`, '');
  }
  const engines = results.registryEngines;
  if (engines) {
    lines.push(`## 2b. Registry metadata engines (${engines.packages} packages, autocannon with ${engines.connections} connections, ${engines.secondsPerRound} s rounds)`, '');
    lines.push('| Engine | Metadata GET req/s | Metadata p99 ms | Tarball GET req/s | Tarball p99 ms | Publish ms, median (p99) |', '|---|---|---|---|---|---|');
    for (const row of engines.engines) {
      lines.push(`| ${row.label} | ${range(row.metadata.requestsPerSecond)} | ${range(row.metadata.latencyP99Ms, 1)} | ${range(row.tarball.requestsPerSecond)} | ${range(row.tarball.latencyP99Ms, 1)} | ${fmt(row.publishMs.median, 1)} (${fmt(row.publishMs.p99, 1)}) |`);
    }
    lines.push('');
  }
  const inst = results.install;
  if (inst) {
    lines.push(`## 3. Cold install of ${inst.package} (empty folder, empty cache)`, '');
    lines.push('| Tool | ms | npm / this |', '|---|---|---|');
    lines.push(`| \`plugline install\` (CLI process) | ${range(inst.pluglineCliMs, 1)} | **${fmt(inst.speedup.cliVsNpm, 2)}** |`);
    lines.push(`| runtime \`installPlugin\` (in process) | ${range(inst.installPluginMs, 1)} | ${fmt(inst.speedup.installPluginVsNpm, 2)} |`);
    if (inst.baselineCliMs) lines.push(`| baseline \`plugline\` binary (\`${inst.baselineCli}\`) | ${range(inst.baselineCliMs, 1)} | ${fmt(inst.npmMs.median / inst.baselineCliMs.median, 2)} |`);
    lines.push(`| \`npm install\` from Verdaccio | ${range(inst.npmMs, 1)} | 1 |`);
    if (inst.nodeStartMs) {
      lines.push(`| \`node -e 0\` (starting Node, nothing else) | ${range(inst.nodeStartMs, 1)} | ${fmt(inst.npmMs.median / inst.nodeStartMs.median, 2)} |`, '');
      const budget = inst.npmMs.median / 5;
      lines.push(`For 5× npm, \`plugline install\` would have to finish within ${fmt(budget, 0)} ms: ${fmt(budget - inst.nodeStartMs.median, 0)} ms after Node itself has started, for loading the CLI and the whole install; it takes ${fmt(inst.pluglineCliMs.median - inst.nodeStartMs.median, 0)} ms.`);
    }
    lines.push('');
  }
  const sc = results.scaling;
  if (sc?.registry) {
    lines.push(`## 4. Scaling`, '', `Registry: one plugin with N versions (published through the HTTP API, ${sc.registry.sizes[0]?.publish.concurrency} in flight); autocannon ${sc.registry.connections} connections, ${sc.registry.secondsPerRound} s rounds.`, '');
    lines.push('| Versions | publish/s | document bytes | document req/s | document mean ms | document p99 ms | resolve `^1` req/s | resolve mean ms | resolve p99 ms |', '|---|---|---|---|---|---|---|---|---|');
    for (const row of sc.registry.sizes) {
      lines.push(`| ${fmt(row.versions)} | ${fmt(row.publish.perSecond)} | ${fmt(row.documentBytes)} | ${range(row.metadata.requestsPerSecond, 1)} | ${fmt(row.metadata.latencyMeanMs.median, 2)} | ${range(row.metadata.latencyP99Ms, 1)} | ${range(row.resolve.requestsPerSecond, 1)} | ${fmt(row.resolve.latencyMeanMs.median, 2)} | ${fmt(row.resolve.latencyP99Ms.median, 1)} |`);
    }
    lines.push('');
  }
  if (sc?.runtime) {
    lines.push('Runtime: throughput vs chain length (sandboxed vs bare in-process calls). "mixed" cycles the five official plugins (1 = geoip; 10 = the five twice, each its own isolate); "hello-world" repeats the lightest plugin.', '');
    lines.push('| Series | Plugins | sandboxed events/s | µs/event | µs/event per plugin | bare events/s | bare µs/event |', '|---|---|---|---|---|---|---|');
    for (const row of sc.runtime) lines.push(`| ${row.series} | ${row.length} | ${range(row.sandboxed)} | ${fmt(row.sandboxedMicrosPerEvent, 2)} | ${fmt(row.sandboxedMicrosPerEventPerPlugin, 2)} | ${range(row.bare)} | ${fmt(row.bareMicrosPerEvent, 2)} |`);
    lines.push('');
  }
  return `${lines.join('\n')}\n`;
}

const escape = (text) => String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A simple horizontal bar chart: one panel per comparison, bars scaled to the panel's largest value. */
export function svgChart(results) {
  const panels = [];
  if (results.runtime) {
    panels.push({
      title: 'Runtime, 5-plugin chain: events/s (higher is better)',
      bars: [
        ['sandboxed', results.runtime.sandboxed.eventsPerSecond.median],
        ...(results.runtime.sandboxedPipelined ? [['sandboxed, 2 in flight', results.runtime.sandboxedPipelined.eventsPerSecond.median]] : []),
        ['direct, SDK driver', results.runtime.direct.eventsPerSecond.median],
        ['direct, bare calls', results.runtime.bare.eventsPerSecond.median],
        ['target 100k', 100_000],
      ],
    });
  }
  if (results.registry) {
    panels.push({
      title: 'Metadata GET req/s (higher is better)',
      bars: [
        ['Plugline', results.registry.plugline.metadata.requestsPerSecond.median],
        ['Verdaccio', results.registry.verdaccio.metadata.requestsPerSecond.median],
        ['target 3x Verdaccio', results.registry.verdaccio.metadata.requestsPerSecond.median * 3],
      ],
    });
    panels.push({
      title: 'Tarball GET req/s (higher is better)',
      bars: [
        ['Plugline', results.registry.plugline.tarball.requestsPerSecond.median],
        ['Verdaccio', results.registry.verdaccio.tarball.requestsPerSecond.median],
      ],
    });
  }
  if (results.install) {
    panels.push({
      title: 'Cold install ms (lower is better)',
      bars: [
        ['plugline install', results.install.pluglineCliMs.median],
        ['installPlugin', results.install.installPluginMs.median],
        ['npm install', results.install.npmMs.median],
      ],
    });
  }
  if (results.scaling?.registry) {
    panels.push({ title: 'Registry metadata GET mean ms by published versions (lower is better)', bars: results.scaling.registry.sizes.map((row) => [`${row.versions} versions`, row.metadata.latencyMeanMs.median]) });
  }
  if (results.scaling?.runtime) {
    panels.push({ title: 'Sandboxed µs/event by chain length (lower is better)', bars: results.scaling.runtime.map((row) => [`${row.series} x${row.length}`, row.sandboxedMicrosPerEvent]) });
  }
  const width = 760;
  const labelWidth = 170;
  const barMax = width - labelWidth - 110;
  const barHeight = 18;
  let y = 34;
  const parts = [];
  parts.push(`<text x="10" y="20" font-size="15" font-weight="bold">Plugline benchmarks${results.quick ? ' (quick run)' : ''} — ${escape(results.date.slice(0, 10))}, ${escape(results.machine.cpuModel)}, ${results.machine.cores} cores, Node ${escape(results.machine.node)}</text>`);
  for (const panel of panels) {
    y += 22;
    parts.push(`<text x="10" y="${y}" font-size="13" font-weight="bold">${escape(panel.title)}</text>`);
    y += 8;
    const max = Math.max(...panel.bars.map(([, value]) => value || 0), 1e-9);
    for (const [label, value] of panel.bars) {
      const w = Math.max(1, Math.round(((value || 0) / max) * barMax));
      const target = label.startsWith('target');
      parts.push(`<text x="${labelWidth - 6}" y="${y + 13}" font-size="12" text-anchor="end">${escape(label)}</text>`);
      parts.push(`<rect x="${labelWidth}" y="${y}" width="${w}" height="${barHeight - 4}" fill="${target ? '#bbbbbb' : '#3b6fb6'}"/>`);
      parts.push(`<text x="${labelWidth + w + 6}" y="${y + 12}" font-size="12">${escape(fmt(value, value < 100 ? 1 : 0))}</text>`);
      y += barHeight;
    }
  }
  const height = y + 16;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n</svg>\n`;
}

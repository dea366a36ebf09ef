// Section 3: a cold `plugline install` vs a cold `npm install` of the same tarball from Verdaccio.
import { spawn } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { installPlugin } from '@plugline/runtime';
import { log, msSince, removeDir, round, summarize, tempDir } from './util.mjs';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const cliBin = path.join(repoRoot, 'packages/cli/dist/cli.js');
// Optional: another build of the binary (e.g. of an earlier commit) timed in the same rounds, to compare
// before and after under the same machine load.
const baselineCliBin = process.env.PLUGLINE_BASELINE_CLI;

/** Runs a command to completion; returns its wall time in ms (throws on a non-zero exit). */
function timed(command, args, options) {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('error', reject);
    child.on('exit', (code) => {
      const ms = msSince(start);
      if (code === 0) resolve({ ms, output });
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code}: ${output.slice(-1000)}`));
    });
  });
}

function versionOf(command, args = ['--version']) {
  return timed(command, args, {}).then(({ output }) => output.trim(), () => 'unknown');
}

/**
 * `rounds` alternating cold installs of `name@^1`, each into a new empty folder with an empty cache:
 * the `plugline` binary (resolve, download, verify, extract, validate, write plugins.json + lockfile),
 * the runtime's `installPlugin` in this process (same work, no process start), and `npm install`.
 * Each round also times `node -e 0`, the floor for anything that starts a Node process here.
 * "Cold" means an empty plugin cache and install folder; Node's own compile cache (V8 code cache of
 * the CLI's modules in the OS temp folder, which the binary enables) is warm after round 0, as it is
 * for anyone who has run `plugline` before. npm keeps its own caches of its code likewise.
 */
export async function installBench({ pluglineUrl, verdaccioUrl, name, rounds }) {
  const runs = { nodeStart: [], cli: [], baselineCli: [], inProcess: [], npm: [] };
  const base = await tempDir('install');
  const emptyNpmrc = path.join(base, 'empty-npmrc');
  await writeFile(emptyNpmrc, '');
  const env = { ...process.env, HOME: base, XDG_CONFIG_HOME: path.join(base, 'xdg'), PLUGLINE_CONFIG: path.join(base, 'plugline-config.json'), npm_config_userconfig: emptyNpmrc, NO_UPDATE_NOTIFIER: '1' };
  for (const key of Object.keys(env)) if (key.startsWith('npm_') && key !== 'npm_config_userconfig') delete env[key];
  try {
    for (let round_ = 0; round_ <= rounds; round_++) {
      const dir = path.join(base, `round-${round_}`);
      await mkdir(path.join(dir, 'npm-project'), { recursive: true });
      const nodeStart = await timed(process.execPath, ['-e', '0'], { env, cwd: dir });
      const cli = await timed(process.execPath, [cliBin, 'install', `${name}@^1`, '--dir', path.join(dir, 'runtime'), '--registry', pluglineUrl], { env, cwd: dir });
      const baseline = baselineCliBin
        ? await timed(process.execPath, [baselineCliBin, 'install', `${name}@^1`, '--dir', path.join(dir, 'baseline-runtime'), '--registry', pluglineUrl], { env, cwd: dir })
        : undefined;
      const start = process.hrtime.bigint();
      await installPlugin({ registryUrl: pluglineUrl, spec: `${name}@^1`, cacheDir: path.join(dir, 'cache') });
      const inProcess = msSince(start);
      const npm = await timed(
        'npm',
        ['install', `${name}@^1`, '--registry', `${verdaccioUrl}/`, '--cache', path.join(dir, 'npm-cache'), '--no-audit', '--no-fund', '--prefer-online', '--userconfig', emptyNpmrc, '--loglevel', 'error'],
        { env, cwd: path.join(dir, 'npm-project') },
      );
      // Round 0 is a warm-up (disk cache of both tools' own files), not recorded.
      if (round_ === 0) continue;
      runs.nodeStart.push(nodeStart.ms);
      runs.cli.push(cli.ms);
      if (baseline) runs.baselineCli.push(baseline.ms);
      runs.inProcess.push(inProcess);
      runs.npm.push(npm.ms);
      log(`section 3: round ${round_}: node -e 0 ${Math.round(nodeStart.ms)} ms, plugline CLI ${Math.round(cli.ms)} ms${baseline ? ` (baseline ${Math.round(baseline.ms)} ms)` : ''}, installPlugin ${Math.round(inProcess)} ms, npm ${Math.round(npm.ms)} ms`);
    }
  } finally {
    await removeDir(base);
  }
  const nodeStart = summarize(runs.nodeStart.map((ms) => round(ms, 1)));
  const cli = summarize(runs.cli.map((ms) => round(ms, 1)));
  const inProcess = summarize(runs.inProcess.map((ms) => round(ms, 1)));
  const npm = summarize(runs.npm.map((ms) => round(ms, 1)));
  const cliRatio = round(npm.median / cli.median, 2);
  const inProcessRatio = round(npm.median / inProcess.median, 2);
  return {
    package: `${name}@^1`,
    npmVersion: await versionOf('npm'),
    // `node -e 0`: starting Node itself, which the CLI cannot go below.
    nodeStartMs: nodeStart,
    pluglineCliMs: cli,
    ...(baselineCliBin ? { baselineCli: baselineCliBin, baselineCliMs: summarize(runs.baselineCli.map((ms) => round(ms, 1))) } : {}),
    installPluginMs: inProcess,
    npmMs: npm,
    speedup: { cliVsNpm: cliRatio, installPluginVsNpm: inProcessRatio },
    targets: [
      { metric: 'npm install time / plugline install time (both as a new process)', wanted: 5, measured: cliRatio, met: cliRatio >= 5 },
      { metric: 'npm install time / installPlugin time (in process, no Node start)', wanted: 5, measured: inProcessRatio, met: inProcessRatio >= 5 },
    ],
  };
}

/**
 * The runtime helper's own chain benchmark (`packages/runtime/bench/chain.bench.mjs`: five light
 * synthetic plugins) run as is, in a child process; its summary lines are parsed and kept verbatim.
 */
export async function runtimeLightChain({ rounds }) {
  const script = path.join(repoRoot, 'packages/runtime/bench/chain.bench.mjs');
  try {
    const { output } = await timed(process.execPath, [script], { env: { ...process.env, ROUNDS: String(rounds) }, cwd: path.dirname(script) });
    const ratio = /sandboxed \/ direct: ([\d.]+) by wall clock, ([\d.]+) by CPU time/.exec(output);
    const rate = /sandboxed events\/s: ([\d,]+) wall, ([\d,]+) per core/.exec(output);
    const pipelined = /pipelined[^:]*: ([\d,]+) events\/s/.exec(output);
    return {
      script: 'packages/runtime/bench/chain.bench.mjs',
      ratioWall: ratio ? Number(ratio[1]) : null,
      ratioCpu: ratio ? Number(ratio[2]) : null,
      sandboxedEventsPerSecondWall: rate ? Number(rate[1].replaceAll(',', '')) : null,
      sandboxedEventsPerSecondPerCore: rate ? Number(rate[2].replaceAll(',', '')) : null,
      pipelinedEventsPerSecond: pipelined ? Number(pipelined[1].replaceAll(',', '')) : null,
      output: output.trim(),
    };
  } catch (error) {
    return { script: 'packages/runtime/bench/chain.bench.mjs', error: String(error.message).slice(0, 500) };
  }
}

// Small helpers shared by the benchmark sections: statistics, machine facts, child servers, temp dirs.
import { fork } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** Sorted copy of numbers. */
function sorted(values) {
  return [...values].sort((a, b) => a - b);
}

/** Percentile (0-100) by nearest rank on a copy of the values. */
export function percentile(values, p) {
  if (values.length === 0) return Number.NaN;
  const list = sorted(values);
  const rank = Math.min(list.length - 1, Math.max(0, Math.ceil((p / 100) * list.length) - 1));
  return list[rank];
}

/** Median (mean of the two middle values for an even count). */
export function median(values) {
  if (values.length === 0) return Number.NaN;
  const list = sorted(values);
  const mid = Math.floor(list.length / 2);
  return list.length % 2 ? list[mid] : (list[mid - 1] + list[mid]) / 2;
}

/** `{ median, min, max, rounds, values }` of repeated rounds. */
export function summarize(values) {
  return { median: median(values), min: Math.min(...values), max: Math.max(...values), rounds: values.length, values };
}

/** Rounds a number to `digits` significant-ish decimals for reports. */
export function round(value, digits = 2) {
  if (!Number.isFinite(value)) return value;
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

/** The machine the run is on, plus the 1/5/15-minute load average at the time of the call. */
export function machineInfo() {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model?.trim() ?? 'unknown',
    cores: cpus.length,
    availableParallelism: os.availableParallelism(),
    memoryGiB: round(os.totalmem() / 1024 ** 3, 1),
    node: process.version,
    v8: process.versions.v8,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
  };
}

export function loadAverage() {
  return os.loadavg().map((value) => round(value, 2));
}

/** A fresh temp dir; the caller removes it with {@link removeDir}. */
export function tempDir(prefix) {
  return mkdtemp(path.join(os.tmpdir(), `plugline-bench-${prefix}-`));
}

export async function removeDir(dir) {
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}

/**
 * Forks a server script (its own Node process) that answers `{ url }` over IPC once it listens.
 * Returns `{ url, child, stop() }`; `stop` sends SIGTERM and waits for the exit (SIGKILL after 5 s).
 */
export async function startChildServer(script, args = [], env = {}) {
  const child = fork(script, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${path.basename(script)} did not start within 60 s`)), 60_000);
    child.once('message', (message) => {
      clearTimeout(timer);
      if (message?.url) resolve(message.url);
      else reject(new Error(`${path.basename(script)}: ${JSON.stringify(message)}`));
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${path.basename(script)} exited with ${code} before listening`));
    });
  });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  return {
    url,
    pid: child.pid,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Runs `fn` repeatedly for `ms` of wall time (after nothing else); returns `{ iterations, seconds, cpuSeconds }`. */
export async function runFor(ms, fn) {
  const cpuStart = process.cpuUsage();
  const start = process.hrtime.bigint();
  const deadline = start + BigInt(Math.round(ms * 1e6));
  let iterations = 0;
  let now = start;
  while (now < deadline) {
    await fn();
    iterations += 1;
    now = process.hrtime.bigint();
  }
  const cpu = process.cpuUsage(cpuStart);
  return { iterations, seconds: Number(now - start) / 1e9, cpuSeconds: (cpu.user + cpu.system) / 1e6 };
}

/** Milliseconds from a `process.hrtime.bigint()` start. */
export function msSince(start) {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/** Prints a progress line to stderr (the bench is a script, not a library). */
export function log(message) {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

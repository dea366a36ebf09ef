import { randomUUID } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

// `<dir>/runtime.json`: where the runtime serving a project folder listens, so the CLI can apply chain
// changes to it live. Written when the runtime listens, removed when it closes; a file whose pid is
// not alive (the runtime crashed) is stale.

/** The content of `<dir>/runtime.json`. */
export interface RuntimeFile {
  /** `http://host:port` of the runtime's HTTP API. */
  url: string;
  /** The runtime's process id. */
  pid: number;
  startedAt: string;
}

/** Path of a project folder's `runtime.json`. */
export function runtimeFilePath(dir: string): string {
  return join(dir, 'runtime.json');
}

/** Writes `runtime.json` atomically (temp file + rename). */
export async function writeRuntimeFile(dir: string, info: { url: string; pid?: number }): Promise<void> {
  const path = runtimeFilePath(dir);
  const temp = `${path}.${randomUUID()}.tmp`;
  const file: RuntimeFile = { url: info.url, pid: info.pid ?? process.pid, startedAt: new Date().toISOString() };
  await writeFile(temp, `${JSON.stringify(file, null, 2)}\n`);
  await rename(temp, path);
}

/** Removes `runtime.json` when it still names `url` (another runtime may have taken the folder over since). */
export async function removeRuntimeFile(dir: string, url: string): Promise<void> {
  const current = await readRuntimeFile(dir, { includeStale: true });
  if (current?.url === url) await rm(runtimeFilePath(dir), { force: true });
}

/** Is a process with this id alive (EPERM: alive, someone else's)? */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * The runtime serving `dir`: its `runtime.json` when there is one and its process is alive (else
 * `undefined`; with `includeStale`, a file of a dead process too, with `stale: true`).
 */
export async function readRuntimeFile(dir: string, options: { includeStale?: boolean } = {}): Promise<(RuntimeFile & { stale: boolean }) | undefined> {
  let parsed: Partial<RuntimeFile>;
  try {
    parsed = JSON.parse(await readFile(runtimeFilePath(dir), 'utf8')) as Partial<RuntimeFile>;
  } catch {
    return undefined;
  }
  if (typeof parsed.url !== 'string' || typeof parsed.pid !== 'number') return undefined;
  const stale = !alive(parsed.pid);
  if (stale && !options.includeStale) return undefined;
  return { url: parsed.url, pid: parsed.pid, startedAt: String(parsed.startedAt ?? ''), stale };
}

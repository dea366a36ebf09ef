import { existsSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import path from 'node:path';
import { errorFromAnswer, PluglineError } from '@plugline/sdk';
import { loadPeer } from './peers.js';
import { runtimeToken } from './runtime-api.js';

// How the runtime commands reach a running runtime: `--runtime URL`, else the `runtime.json` the
// runtime writes into its folder when it listens (ignored when its process is dead or nothing answers
// at its URL). Requests go over node:http (not the global fetch, which costs ~65 ms to load) with
// `Authorization: Bearer <token>` when a token is known.

/** A running runtime the CLI talks to. */
export interface LiveRuntime {
  url: string;
  token: string | undefined;
  /** How it was found: `--runtime` or the folder's `runtime.json`. */
  via: 'flag' | 'runtime.json';
}

/** Options every runtime command takes. */
export interface LiveOptions {
  runtime?: string;
  token?: string;
}

/** The runtime folder a command works on: `--dir`, else `$PLUGLINE_RUNTIME_DIR`, else `.plugline/runtime`. */
export function runtimeDirFor(options: { dir?: string }, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): string {
  if (options.dir) return path.resolve(options.dir);
  if (env.PLUGLINE_RUNTIME_DIR) return path.resolve(env.PLUGLINE_RUNTIME_DIR);
  const dir = path.resolve(cwd, '.plugline', 'runtime');
  // In a plugin's folder the default would make a runtime folder inside the plugin: ask instead.
  if (existsSync(path.join(cwd, 'plugin.json')) && !existsSync(dir)) {
    throw new PluglineError(
      'ERR_USAGE',
      `${cwd} is a plugin's folder (it has plugin.json), not a runtime's: pass --dir <runtime folder> (or set $PLUGLINE_RUNTIME_DIR) to say which runtime to change`,
    );
  }
  return dir;
}

/** The runtime token as runtime-api.ts' `runtimeToken` finds it (`--token`, `$PLUGLINE_RUNTIME_ADMIN_TOKEN`, the folder's or the quickstart's admin-token), or none. */
async function tokenFor(dir: string, options: LiveOptions, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  return runtimeToken({ token: options.token, dir, env }).catch(() => undefined);
}

function normalizeUrl(raw: string): string {
  let parsed: URL;
  try {
    parsed = new URL(raw);
  } catch {
    throw new PluglineError('ERR_USAGE', `--runtime needs a URL (e.g. http://127.0.0.1:7401), got "${raw}"`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new PluglineError('ERR_USAGE', `--runtime needs an http(s) URL, got "${raw}"`);
  return parsed.href.replace(/\/+$/, '');
}

/**
 * The running runtime of `dir`, or `undefined` when none runs (then the command edits the files).
 * `--runtime URL` always means live (and fails with `ERR_RUNTIME_UNREACHABLE` if nothing answers).
 */
export async function findLiveRuntime(dir: string, options: LiveOptions, env: NodeJS.ProcessEnv = process.env): Promise<LiveRuntime | undefined> {
  const token = await tokenFor(dir, options, env);
  if (options.runtime) return { url: normalizeUrl(options.runtime), token, via: 'flag' };
  const { readRuntimeFile } = await loadPeer('@plugline/runtime', 'install', () => import('@plugline/runtime/install'));
  const file = await readRuntimeFile(dir);
  if (!file) return undefined;
  const live: LiveRuntime = { url: file.url, token, via: 'runtime.json' };
  // Any HTTP answer (even 401) means it runs; a refused connection means runtime.json is stale.
  try {
    await request(live, 'GET', '/healthz', undefined, { anyStatus: true });
  } catch (error) {
    if ((error as PluglineError).code === 'ERR_RUNTIME_UNREACHABLE') return undefined;
    throw error;
  }
  return live;
}

/** One JSON request to a runtime's API: the parsed answer, or the coded error it answered with. */
export function request<T = Record<string, unknown>>(live: LiveRuntime, method: string, route: string, body?: unknown, options: { anyStatus?: boolean } = {}): Promise<T> {
  const target = new URL(`${live.url}${route}`);
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const send = target.protocol === 'https:' ? process.getBuiltinModule('node:https').request : process.getBuiltinModule('node:http').request;
  const headers: Record<string, string | number> = { accept: 'application/json' };
  if (payload) Object.assign(headers, { 'content-type': 'application/json', 'content-length': payload.length });
  if (live.token) headers.authorization = `Bearer ${live.token}`;
  return new Promise<T>((resolve, reject) => {
    const req = send(target, { method, headers }, (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const status = res.statusCode ?? 0;
        if (!options.anyStatus && (status < 200 || status >= 300)) {
          reject(errorFromAnswer(status, text, `${method} ${route}`));
          return;
        }
        try {
          resolve((text ? JSON.parse(text) : {}) as T);
        } catch {
          if (options.anyStatus) resolve({} as T);
          else reject(new PluglineError('ERR_RUNTIME_UNREACHABLE', `${method} ${route} at ${live.url} answered something that is not JSON`));
        }
      });
    });
    req.on('error', (error: Error) => reject(new PluglineError('ERR_RUNTIME_UNREACHABLE', `The runtime at ${live.url} could not be reached: ${error.message}`, { cause: error })));
    req.end(payload);
  });
}

/** A plugin of the chain as the runtime's `GET /api/plugins` describes it (the fields the CLI uses). */
export interface LivePlugin {
  name: string;
  version: string;
  spec: string;
  integrity: string;
  enabled: boolean;
  status: string;
  requested: string[];
  granted: string[];
  config: Record<string, unknown>;
  deprecated?: string;
}

/** The running chain. */
export async function livePlugins(live: LiveRuntime): Promise<LivePlugin[]> {
  return (await request<{ plugins: LivePlugin[] }>(live, 'GET', '/api/plugins')).plugins;
}

/** The path segment of a plugin name (`@scope/name` encoded). */
export const pluginRoute = (name: string) => `/api/plugins/${encodeURIComponent(name)}`;

/** The last line of a chain-changing command: where the change went. */
export function appliedLine(live: LiveRuntime | undefined): string {
  return live ? `applied to the running runtime at ${live.url}` : 'edited plugins.json; start or restart the runtime to apply';
}

// Talking to a running runtime's management API: every call sends the admin token.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { errorFromAnswer, PluglineError } from '@plugline/sdk';

/** The runtime URL commands talk to: `--runtime`, else `$PLUGLINE_RUNTIME_URL`, else `http://127.0.0.1:7401`. */
export function runtimeUrl(option: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return (option ?? env.PLUGLINE_RUNTIME_URL ?? 'http://127.0.0.1:7401').replace(/\/+$/, '');
}

async function readToken(file: string): Promise<string | undefined> {
  try {
    const token = (await readFile(file, 'utf8')).trim();
    return token === '' ? undefined : token;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new PluglineError('ERR_UNAUTHORIZED', `cannot read the admin token in ${file}: ${(error as Error).message}`);
  }
}

/**
 * The runtime's admin token: `--token`, else `$PLUGLINE_RUNTIME_ADMIN_TOKEN`, else `<dir>/admin-token`
 * (what `plugline-runtime` generates), else `<dir>/../admin-token` (the quickstart's `.plugline/admin-token`
 * next to `.plugline/runtime`). `ERR_UNAUTHORIZED` naming the places looked at when none has one.
 *
 * @example
 * ```ts
 * const token = await runtimeToken({ dir: '.plugline/runtime' });
 * ```
 */
export async function runtimeToken(options: { token?: string | undefined; dir: string; env?: NodeJS.ProcessEnv }): Promise<string> {
  const env = options.env ?? process.env;
  if (options.token) return options.token;
  if (env.PLUGLINE_RUNTIME_ADMIN_TOKEN) return env.PLUGLINE_RUNTIME_ADMIN_TOKEN;
  const files = [path.join(options.dir, 'admin-token'), path.join(path.dirname(options.dir), 'admin-token')];
  for (const file of files) {
    const token = await readToken(file);
    if (token) return token;
  }
  throw new PluglineError('ERR_UNAUTHORIZED', `no runtime admin token: pass --token, set PLUGLINE_RUNTIME_ADMIN_TOKEN, or point --dir at the runtime folder (looked in ${files.join(', ')})`);
}

/** One management call: `Authorization: Bearer <token>`, JSON in and out; an error answer throws its coded error. */
export async function runtimeRequest<T>(base: string, token: string, method: string, route: string, body?: unknown): Promise<T> {
  let response: Response;
  try {
    response = await fetch(`${base}${route}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
  } catch (error) {
    throw new PluglineError('ERR_INTERNAL', `the runtime at ${base} could not be reached: ${(error as Error).message}`, { cause: error });
  }
  const text = await response.text();
  if (!response.ok) {
    const coded = errorFromAnswer(response.status, text, `${method} ${route}`);
    if (coded.code === 'ERR_UNAUTHORIZED') throw new PluglineError('ERR_UNAUTHORIZED', `the runtime at ${base} refused the admin token`);
    throw coded;
  }
  return JSON.parse(text) as T;
}

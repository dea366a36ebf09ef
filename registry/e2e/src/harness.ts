import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { packPlugin } from '@plugline/cli';
import { type RunningRegistry, startRegistry } from '@plugline/registry';
import { RegistryClient } from '@plugline/registry/client';
import { type RunningRuntime, startRuntime } from '@plugline/runtime';
import type { Logger } from 'pino';

/** The folder holding the official plugins (`registry/<name>/`). */
export const registryDir = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Starts a real registry on port 0 under `root` and publishes the named official plugins to it, each
 * packed by the CLI exactly as `plugline pack` does.
 */
export async function registryWithPlugins(options: { root: string; names: readonly string[]; adminToken: string; logger: Logger }): Promise<RunningRegistry> {
  const registry = await startRegistry({ port: 0, dataDir: path.join(options.root, 'registry'), adminToken: options.adminToken, logger: options.logger });
  const client = new RegistryClient({ url: registry.url, token: options.adminToken });
  for (const name of options.names) {
    const packed = await packPlugin(path.join(registryDir, name), { outDir: path.join(options.root, 'tarballs'), writeBundle: false });
    await client.publish(packed.tarball, { name: packed.manifest.name, version: packed.manifest.version });
  }
  return registry;
}

/** Polls `probe` every 50 ms until it returns something other than `undefined`, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** `fetch` init for a management call to a runtime (its admin token, generated into its folder). */
export function adminInit(runtime: Pick<RunningRuntime, 'adminToken'>): RequestInit {
  return { headers: { authorization: `Bearer ${runtime.adminToken}` } };
}

/**
 * Starts the runtime of `dir` for an end-to-end test: port 0, no scheduled hooks, and export timings
 * short enough that a retried batch lands within a test (flush at `maxEvents` or after 100 ms).
 */
export function startTestRuntime(options: { dir: string; registryUrl: string; logger: Logger; maxEvents: number }): Promise<RunningRuntime> {
  return startRuntime({
    dir: options.dir,
    port: 0,
    registryUrl: options.registryUrl,
    logger: options.logger,
    schedule: false,
    exportTickMs: 25,
    exports: { maxEvents: options.maxEvents, maxAgeMs: 100, backoffBaseMs: 50, backoffMaxMs: 200, maxAttempts: 4 },
  });
}

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { validateManifest } from '@plugline/sdk';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import plugin from './index.js';

const manifest: unknown = JSON.parse(readFileSync(new URL('../plugin.json', import.meta.url), 'utf8'));

describe('package', () => {
  it('has a valid plugin.json whose config schema is the one the code uses', () => {
    const { value, errors } = validateManifest(manifest);
    expect(errors).toEqual([]);
    expect(value?.config).toEqual(plugin.config ?? { type: 'object', properties: {} });
  });

  it('bundles to one ESM file with no Node built-ins, as the runtime isolate needs', async () => {
    // Same settings as `plugline pack` (platform browser, so the SDK's browser runtime config is used); the SDK stays external here because its main entry
    // reads its own package.json with node:fs (only `definePlugin`/`RetryError` reach a plugin).
    const result = await build({
      entryPoints: [fileURLToPath(new URL('./index.ts', import.meta.url))],
      bundle: true,
      write: false,
      metafile: true,
      platform: 'browser',
      format: 'esm',
      mainFields: ['browser', 'module', 'main'],
      conditions: ['browser'],
      external: ['@plugline/sdk'],
      logLevel: 'silent',
    });
    const output = Object.values(result.metafile.outputs)[0];
    const externals = (output?.imports ?? []).map((entry) => entry.path);
    expect(externals.filter((path) => path !== '@plugline/sdk')).toEqual([]);
    const code = result.outputFiles[0]?.text ?? '';
    // esbuild routes a require() it could not inline through a __require shim, which throws in an isolate.
    expect(code).not.toMatch(/var __require =/);
    expect(code).not.toMatch(/["']node:[a-z]/);
  });
});

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundlePlugin } from '@plugline/cli';
import { type AnyPlugin, validateManifest } from '@plugline/sdk';
import { describe, expect, it } from 'vitest';
import { registryDir } from './harness.js';

// Every official plugin folder: `registry/<name>/` with a plugin.json and a src/index.ts.
const pluginDirs = readdirSync(registryDir)
  .map((name) => join(registryDir, name))
  .filter((dir) => existsSync(join(dir, 'plugin.json')) && existsSync(join(dir, 'src/index.ts')));

describe('official plugin packages', () => {
  it('finds the whole catalogue', () => {
    expect(pluginDirs.length).toBeGreaterThanOrEqual(10);
  });

  describe.each(pluginDirs.map((dir) => [dir.slice(registryDir.length), dir]))('%s', (_name, dir) => {
    const manifest: unknown = JSON.parse(readFileSync(join(dir, 'plugin.json'), 'utf8'));

    it('has a valid plugin.json whose config schema is the one the code uses', async () => {
      const { value, errors } = validateManifest(manifest);
      expect(errors).toEqual([]);
      const plugin = ((await import(join(dir, 'src/index.ts'))) as { default: AnyPlugin }).default;
      expect(value?.config).toEqual(plugin.config ?? { type: 'object', properties: {} });
    });

    it('bundles with the CLI packer to one ESM file the runtime isolate can run', async () => {
      // bundlePlugin itself fails on a Node built-in that survives tree shaking and on unresolvable imports.
      const { code } = await bundlePlugin(dir, join(dir, 'src/index.ts'));
      // esbuild routes a require() it could not inline through a __require shim, which throws in an isolate.
      expect(code).not.toMatch(/var __require =/);
      expect(code).not.toMatch(/["']node:[a-z]/);
      expect(code).toMatch(/export\s*\{[^}]*\bdefault\b/);
    });
  });
});

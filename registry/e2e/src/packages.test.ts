import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundlePlugin } from '@plugline/cli';
import { type AnyPlugin, redactConfig, validateManifest } from '@plugline/sdk';
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

    it('marks every credential writeOnly, so no API answer, CLI output or log line shows it', () => {
      const config = (manifest as { config: { properties?: Record<string, Record<string, unknown>> } }).config;
      const credential = /secret|token|password|passwd|api_?key|access_?key|credential|connection_?string|authorization|^headers$/i;
      for (const [key, property] of Object.entries(config.properties ?? {})) {
        if (!credential.test(key)) continue;
        // A credential is masked whatever its shape: a string, or a map (headers) of strings.
        const sample = property.type === 'object' ? { Authorization: 'Bearer sample-credential' } : 'sample-credential';
        expect(JSON.stringify(redactConfig(config as never, { [key]: sample })), `${key} of ${dir}`).not.toContain('sample-credential');
      }
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

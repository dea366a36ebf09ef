import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { AnyPlugin } from '@plugline/sdk';
import { createEvent, runChain } from '@plugline/sdk/testing';
import { list as listTar, type ReadEntry } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packPlugin } from './pack.js';
import { FIXED_MTIME } from './tarball.js';
import { helloManifest, helloSource, makeTempDir, writePluginFolder } from './test-support/fixtures.js';

let root: string;
beforeAll(async () => {
  root = await makeTempDir('pack');
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

async function tarEntries(file: string): Promise<{ path: string; mode: number | undefined; mtime: Date | undefined; uid: number | undefined; size: number }[]> {
  const entries: { path: string; mode: number | undefined; mtime: Date | undefined; uid: number | undefined; size: number }[] = [];
  await listTar({ file, onReadEntry: (entry: ReadEntry) => void entries.push({ path: entry.path, mode: entry.mode, mtime: entry.mtime, uid: entry.uid, size: entry.size }) });
  return entries;
}

describe('packPlugin', () => {
  it('bundles to one ESM file at main and writes a tarball with plugin.json, the bundle and the README only', async () => {
    const dir = await writePluginFolder(path.join(root, 'hello'), { readme: '# hello\n', extra: { 'notes.txt': 'not packed', 'src/extra.ts': 'export {};' } });
    const packed = await packPlugin(dir);
    expect(packed.files).toEqual(['package/README.md', 'package/dist/index.js', 'package/plugin.json']);
    expect(packed.path).toBe(path.join(dir, 'fixture-hello-1.0.0.tgz'));
    expect(packed.manifest.name).toBe('fixture-hello');
    expect(new Uint8Array(await readFile(packed.path))).toEqual(packed.tarball);
    expect(packed.integrity).toBe(`sha512-${createHash('sha512').update(packed.tarball).digest('base64')}`);

    const entries = await tarEntries(packed.path);
    expect(entries.map((entry) => entry.path)).toEqual(packed.files);
    for (const entry of entries) {
      expect(entry.mode).toBe(0o644);
      expect(entry.mtime?.getTime()).toBe(FIXED_MTIME.getTime());
      expect(entry.uid ?? 0).toBe(0);
    }
    // gzip header: no timestamp (bytes 4-7) and "unknown" OS (byte 9), so it does not depend on the machine.
    expect([...packed.tarball.subarray(4, 8)]).toEqual([0, 0, 0, 0]);
    expect(packed.tarball[9]).toBe(0xff);

    const bundle = await readFile(path.join(dir, 'dist', 'index.js'), 'utf8');
    expect(bundle).not.toMatch(/^\s*import\s/m);
    expect(bundle).not.toMatch(/\.\.\//);
    const plugin = ((await import(pathToFileURL(path.join(dir, 'dist', 'index.js')).href)) as { default: AnyPlugin }).default;
    const { events } = await runChain([plugin], [createEvent()]);
    expect(events[0]?.properties.hello).toBe('world');
  });

  it('gives the same bytes and integrity for the same input, also from another folder', async () => {
    const first = await writePluginFolder(path.join(root, 'same-a'), { readme: 'same\n' });
    const second = await writePluginFolder(path.join(root, 'deeper', 'same-b'), { readme: 'same\n' });
    const a1 = await packPlugin(first);
    const a2 = await packPlugin(first, { outDir: path.join(root, 'out') });
    const b = await packPlugin(second);
    expect(a2.integrity).toBe(a1.integrity);
    expect(Buffer.from(a2.tarball).equals(Buffer.from(a1.tarball))).toBe(true);
    expect(Buffer.from(b.tarball).equals(Buffer.from(a1.tarball))).toBe(true);
  });

  it('leaves the folder untouched with writeBundle: false, with the same tarball', async () => {
    const dir = await writePluginFolder(path.join(root, 'no-write'));
    const packed = await packPlugin(dir, { writeBundle: false, outDir: path.join(root, 'no-write-out') });
    expect(existsSync(path.join(dir, 'dist'))).toBe(false);
    expect(packed.files).toContain('package/dist/index.js');
    expect((await packPlugin(dir, { outDir: path.join(root, 'no-write-out-2') })).integrity).toBe(packed.integrity);
  });

  it('changes the bytes when the source changes', async () => {
    const dir = await writePluginFolder(path.join(root, 'changed'), { source: "import { definePlugin } from '@plugline/sdk';\nexport default definePlugin({ processEvent: (e) => e });\n" });
    const base = await writePluginFolder(path.join(root, 'base'));
    expect((await packPlugin(dir)).integrity).not.toBe((await packPlugin(base)).integrity);
  });

  it('rejects an invalid manifest with ERR_MANIFEST_INVALID listing every path: message', async () => {
    const dir = await writePluginFolder(path.join(root, 'bad-manifest'), {
      manifest: helloManifest({ version: 'one', main: '../escape.js', color: 'red' }),
    });
    const error = await packPlugin(dir).catch((caught: unknown) => caught);
    expect(error).toMatchObject({ code: 'ERR_MANIFEST_INVALID' });
    const { message, details } = error as { message: string; details: string[] };
    expect(details).toEqual(expect.arrayContaining([expect.stringMatching(/^version: /), expect.stringMatching(/^main: /), 'color: is not allowed (unknown key)']));
    for (const detail of details) expect(message).toContain(detail);
  });

  it('rejects a plugin.json that is not JSON and a folder without one', async () => {
    const dir = await writePluginFolder(path.join(root, 'not-json'), { manifest: '{ nope' });
    await expect(packPlugin(dir)).rejects.toMatchObject({ code: 'ERR_MANIFEST_INVALID', message: expect.stringContaining('not valid JSON') });
    await expect(packPlugin(path.join(root, 'missing'))).rejects.toMatchObject({ code: 'ERR_MANIFEST_MISSING' });
  });

  it('fails with ERR_PLUGIN_LOAD naming a Node built-in the plugin imports, with its location', async () => {
    const dir = await writePluginFolder(path.join(root, 'fs-import'), {
      source: "import { readFileSync } from 'fs';\nexport default { processEvent: (e) => ({ ...e, properties: { ...e.properties, x: readFileSync('/etc/hostname', 'utf8') } }) };\n",
    });
    await expect(packPlugin(dir)).rejects.toMatchObject({
      code: 'ERR_PLUGIN_LOAD',
      message: expect.stringContaining('src/index.ts:1:30: "fs" is a Node built-in, which the plugin sandbox does not have'),
    });
    // Even unused: the plugin's own code may not import a built-in at all.
    const unused = await writePluginFolder(path.join(root, 'fs-unused'), { source: `import 'node:path';\n${helloSource}` });
    await expect(packPlugin(unused)).rejects.toMatchObject({ code: 'ERR_PLUGIN_LOAD', message: expect.stringContaining('"node:path" is a Node built-in') });
  });

  it('lets tree shaking drop built-ins a dependency imports but the plugin does not reach', async () => {
    const dir = await writePluginFolder(path.join(root, 'dep-builtin'), {
      source: "import { definePlugin } from '@plugline/sdk';\nimport { pure } from 'mixed-dep';\nexport default definePlugin({ processEvent(e) { e.properties.v = pure(); return e; } });\n",
      extra: {
        'node_modules/mixed-dep/package.json': JSON.stringify({ name: 'mixed-dep', version: '1.0.0', type: 'module', main: 'index.js', sideEffects: false }),
        'node_modules/mixed-dep/index.js': "export { pure } from './pure.js';\nexport { readConfig } from './node-only.js';\n",
        'node_modules/mixed-dep/pure.js': 'export const pure = () => 42;\n',
        'node_modules/mixed-dep/node-only.js': "import { readFileSync } from 'node:fs';\nexport const readConfig = () => readFileSync('/etc/hosts', 'utf8');\n",
      },
    });
    const packed = await packPlugin(dir);
    expect(await readFile(path.join(dir, 'dist', 'index.js'), 'utf8')).not.toContain('node:fs');
    expect(packed.files).toContain('package/dist/index.js');
    const used = await writePluginFolder(path.join(root, 'dep-builtin-used'), {
      source: "import { readConfig } from 'mixed-dep';\nexport default { processEvent: (e) => ({ ...e, properties: { ...e.properties, c: readConfig() } }) };\n",
      extra: {
        'node_modules/mixed-dep/package.json': JSON.stringify({ name: 'mixed-dep', version: '1.0.0', type: 'module', main: 'index.js', sideEffects: false }),
        'node_modules/mixed-dep/index.js': "export { readConfig } from './node-only.js';\n",
        'node_modules/mixed-dep/node-only.js': "import { readFileSync } from 'node:fs';\nexport const readConfig = () => readFileSync('/etc/hosts', 'utf8');\n",
      },
    });
    await expect(packPlugin(used)).rejects.toMatchObject({
      code: 'ERR_PLUGIN_LOAD',
      message: expect.stringContaining('"node:fs" imported by mixed-dep/node-only.js is a Node built-in'),
    });
  });

  it('keeps only the SDK parts a plugin uses: no Node-only code, no ajv', async () => {
    const dir = await writePluginFolder(path.join(root, 'sdk-parts'), {
      source: "import { definePlugin, RetryError } from '@plugline/sdk';\nexport default definePlugin({ exportEvents() { throw new RetryError('later'); } });\n",
    });
    await packPlugin(dir);
    const bundle = await readFile(path.join(dir, 'dist', 'index.js'), 'utf8');
    expect(bundle).toContain('this.name = "RetryError"');
    expect(bundle).not.toMatch(/node:|readFileSync|Ajv|validateManifest/);
  });

  it('fails with ERR_SDK_INCOMPATIBLE when plugin.json excludes the SDK the bundle is built with', async () => {
    const dir = await writePluginFolder(path.join(root, 'sdk-range'), { manifest: helloManifest({ sdk: '^9.0.0' }) });
    await expect(packPlugin(dir)).rejects.toMatchObject({ code: 'ERR_SDK_INCOMPATIBLE', message: expect.stringContaining('"^9.0.0"') });
  });

  it('fails with ERR_PLUGIN_LOAD naming an import that cannot be resolved, and with no entry', async () => {
    const dir = await writePluginFolder(path.join(root, 'unresolved'), { source: "import pad from 'left-pad-nowhere';\nexport default { processEvent: (e) => pad(e) };\n" });
    await expect(packPlugin(dir)).rejects.toMatchObject({ code: 'ERR_PLUGIN_LOAD', message: expect.stringContaining('Could not resolve "left-pad-nowhere"') });
    await expect(packPlugin(dir, { entry: 'src/missing.ts' })).rejects.toMatchObject({ code: 'ERR_PLUGIN_LOAD', message: expect.stringContaining('src/missing.ts') });
  });

  it('bundles npm dependencies of the plugin into the file', async () => {
    const dir = await writePluginFolder(path.join(root, 'with-dep'), {
      source: "import { definePlugin } from '@plugline/sdk';\nimport { shout } from 'tiny-shout';\nexport default definePlugin({ processEvent(e) { e.properties.loud = shout('hi'); return e; } });\n",
      extra: {
        'node_modules/tiny-shout/package.json': JSON.stringify({ name: 'tiny-shout', version: '1.0.0', type: 'module', main: 'index.js' }),
        'node_modules/tiny-shout/index.js': "export const shout = (text) => text.toUpperCase() + '!';\n",
      },
    });
    const packed = await packPlugin(dir);
    const bundle = await readFile(path.join(dir, 'dist', 'index.js'), 'utf8');
    expect(bundle).toContain('// tiny-shout/index.js');
    expect(bundle).toContain('toUpperCase');
    expect(packed.files).toEqual(['package/dist/index.js', 'package/plugin.json']);
  });
});

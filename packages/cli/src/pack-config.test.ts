import { rm } from 'node:fs/promises';
import path from 'node:path';
import { list as listTar, type ReadEntry } from 'tar';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDev } from './dev.js';
import { packPlugin } from './pack.js';
import { helloManifest, makeTempDir, writePluginFolder } from './test-support/fixtures.js';

// One source for the config schema: a plugin.json may leave `config` out, and pack writes the code's
// schema (definePlugin({ config })) into the tarball's plugin.json.
let root: string;
beforeAll(async () => {
  root = await makeTempDir('pack-config');
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const typedSource = `import { definePlugin } from '@plugline/sdk';
export default definePlugin({
  config: { type: 'object', properties: { mode: { enum: ['tag', 'drop'], default: 'tag' }, apiKey: { type: 'string', writeOnly: true } } },
  processEvent(event, { config }) {
    if (config.mode === 'drop') return null;
    event.properties.mode = config.mode;
    return event;
  },
});
`;

async function tarManifest(file: string): Promise<Record<string, unknown>> {
  let text = '';
  await listTar({
    file,
    onReadEntry: (entry: ReadEntry) => {
      if (entry.path !== 'package/plugin.json') return void entry.resume();
      entry.on('data', (chunk: Buffer) => {
        text += chunk.toString('utf8');
      });
    },
  });
  return JSON.parse(text) as Record<string, unknown>;
}

describe('config schema from the code', () => {
  it('writes the schema the code declares into the packed plugin.json when plugin.json has none', async () => {
    const { config: _omitted, ...manifest } = helloManifest({ name: 'schema-from-code' });
    const dir = await writePluginFolder(path.join(root, 'from-code'), { manifest, source: typedSource });
    const packed = await packPlugin(dir);
    expect(packed.manifest.config).toEqual({ type: 'object', properties: { mode: { enum: ['tag', 'drop'], default: 'tag' }, apiKey: { type: 'string', writeOnly: true } } });
    expect((await tarManifest(packed.path)).config).toEqual(packed.manifest.config);
    // plugline dev runs it with the same schema: defaults applied, unknown keys refused.
    expect((await runDev(dir)).events[0]?.properties.mode).toBe('tag');
    expect((await runDev(dir, { config: { mode: 'drop' } })).events).toEqual([]);
    await expect(runDev(dir, { config: { mdoe: 'drop' } })).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID' });
  });

  it('keeps a plugin.json that has its own config byte for byte', async () => {
    const dir = await writePluginFolder(path.join(root, 'own-config'), { manifest: helloManifest({ name: 'own-config' }) });
    const packed = await packPlugin(dir);
    expect((await tarManifest(packed.path)).config).toEqual(helloManifest().config);
  });

  it('an empty object schema when neither declares one', async () => {
    const { config: _omitted, ...manifest } = helloManifest({ name: 'no-config' });
    const source = `export default { processEvent: (event) => event };\n`;
    const dir = await writePluginFolder(path.join(root, 'no-config'), { manifest, source });
    expect((await packPlugin(dir)).manifest.config).toEqual({ type: 'object', properties: {} });
  });
});

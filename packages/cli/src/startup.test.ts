import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { type RunningRegistry, startRegistry } from '@plugline/registry';
import { RegistryClient } from '@plugline/registry/client';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createReproducibleTarball } from './tarball.js';
import { assertBuilt, childEnv, cliBin, cliRoot, makeTempDir, runProcess } from './test-support/fixtures.js';

// What a `plugline install` loads is what it costs to start: these tests pin the install path to the
// bundled binary (dist/cli.js and its dist/cli-*.js chunks) and keep undici (global fetch) out of it.

const adminToken = 'test-admin-token';
let root: string;
let registry: RunningRegistry;
let recorder: string;

beforeAll(async () => {
  assertBuilt();
  root = await makeTempDir('startup');
  registry = await startRegistry({ port: 0, dataDir: path.join(root, 'registry-data'), adminToken, logger: pino({ level: 'silent' }) });
  const manifest = {
    name: 'startup-probe',
    version: '1.2.0',
    main: 'index.js',
    sdk: '^0.1.0',
    config: { type: 'object', properties: { value: { type: 'string', default: 'x' } } },
  };
  const tarball = await createReproducibleTarball([
    { path: 'plugin.json', content: JSON.stringify(manifest) },
    { path: 'index.js', content: 'export function processEvent(event) {\n  return event;\n}\n' },
  ]);
  await new RegistryClient({ url: registry.url, token: adminToken }).publish(tarball, { name: manifest.name, version: manifest.version });
  // Preloaded into the CLI process: records every module file it loads and, at exit, Node's own list
  // of the built-in modules it loaded.
  recorder = path.join(root, 'recorder.mjs');
  await writeFile(
    recorder,
    `import module from 'node:module';
import { writeFileSync } from 'node:fs';
const files = [];
module.registerHooks({ load(url, context, next) { if (url.startsWith('file:')) files.push(url); return next(url, context); } });
process.on('exit', () => writeFileSync(process.env.RECORD_TO, JSON.stringify({ files, builtins: process.moduleLoadList })));
`,
  );
});
afterAll(async () => {
  await registry?.close();
  await rm(root, { recursive: true, force: true });
});

async function installRecorded(name: string): Promise<{ code: number; stderr: string; files: string[]; builtins: string[]; dir: string }> {
  const dir = path.join(root, name);
  const record = path.join(root, `${name}.json`);
  const result = await runProcess(process.execPath, ['--import', pathToFileURL(recorder).href, cliBin, 'install', 'startup-probe@^1', '--dir', dir, '--registry', registry.url], {
    env: childEnv({ PLUGLINE_CONFIG: path.join(root, 'config.json'), RECORD_TO: record }),
  });
  const { files, builtins } = JSON.parse(await readFile(record, 'utf8')) as { files: string[]; builtins: string[] };
  return { code: result.code, stderr: result.stderr, files: files.filter((file) => file !== pathToFileURL(recorder).href), builtins, dir };
}

describe('the install path of the plugline binary', () => {
  it('installs from the bundle alone: no module file outside dist/cli.js and its chunks, no undici', async () => {
    const installed = await installRecorded('bundled');
    expect(installed.stderr).toContain('installing startup-probe@^1');
    expect(installed.code).toBe(0);
    const lock = JSON.parse(await readFile(path.join(installed.dir, 'plugins.lock.json'), 'utf8')) as { plugins: Record<string, { version: string }> };
    expect(lock.plugins['startup-probe']?.version).toBe('1.2.0');

    const dist = pathToFileURL(path.join(cliRoot, 'dist')).href;
    const relative = installed.files.map((file) => (file.startsWith(`${dist}/`) ? file.slice(dist.length + 1) : file));
    expect(relative[0]).toBe('cli.js');
    for (const file of relative) expect(file).toMatch(/^cli(-[a-z]+-[A-Z0-9]+)?\.js$/);
    // The global fetch (undici) costs ~65 ms to load; installing uses node:http.
    expect(installed.builtins.filter((entry) => /undici/.test(entry))).toEqual([]);
    expect(installed.builtins).toContain('NativeModule http');
  });
});

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The CLI package folder and its built binary (tests drive the build, so build first). */
export const cliRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const cliBin = path.join(cliRoot, 'dist', 'cli.js');
export const repoRoot = path.resolve(cliRoot, '..', '..');
export const sdkDir = path.join(repoRoot, 'packages', 'sdk');

/** Fails loudly when the binary was not built: the end-to-end tests run the real `dist/cli.js`. */
export function assertBuilt(): void {
  if (!existsSync(cliBin)) throw new Error(`${cliBin} is missing: build the CLI first (npx turbo run build --filter=@plugline/cli)`);
}

/** A temp folder for one test file. */
export function makeTempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(tmpdir(), `plugline-cli-${prefix}-`));
}

/** The environment for child processes: without vitest's own variables (a nested vitest must not see them). */
export function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('VITEST') && key !== 'NODE_OPTIONS' && key !== 'TEST' && key !== 'NODE_ENV') env[key] = value;
  }
  return { ...env, ...extra };
}

/** What a finished process printed and returned. */
export interface ProcessResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command and resolves with its exit code and output (never rejects on a non-zero exit). */
export function runProcess(command: string, args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<ProcessResult> {
  return new Promise((resolve) => {
    execFile(command, [...args], { cwd: options.cwd, env: options.env ?? childEnv(), maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs the built `plugline` binary. */
export function runCli(args: readonly string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<ProcessResult> {
  return runProcess(process.execPath, [cliBin, ...args], options);
}

/** A plugin source that sets `hello: "world"` (configurable), as `src/index.ts`. */
export const helloSource = `import { definePlugin } from '@plugline/sdk';

export default definePlugin({
  config: { type: 'object', properties: { value: { type: 'string', default: 'world' } } },
  processEvent(event, { config }) {
    event.properties.hello = config.value;
    return event;
  },
});
`;

/** A valid manifest for {@link helloSource}. */
export function helloManifest(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    name: 'fixture-hello',
    version: '1.0.0',
    description: 'Fixture plugin',
    main: 'dist/index.js',
    sdk: '^0.1.0',
    config: { type: 'object', properties: { value: { type: 'string', default: 'world' } } },
    ...overrides,
  };
}

/**
 * Writes a plugin folder: `plugin.json`, `src/index.ts` and (optionally) a README, with
 * `node_modules/@plugline/sdk` linked to the workspace SDK (there is no public npm release to install).
 */
export async function writePluginFolder(
  dir: string,
  files: { manifest?: unknown; source?: string; readme?: string; extra?: Record<string, string> } = {},
): Promise<string> {
  await mkdir(path.join(dir, 'src'), { recursive: true });
  await writeFile(path.join(dir, 'plugin.json'), typeof files.manifest === 'string' ? files.manifest : JSON.stringify(files.manifest ?? helloManifest(), null, 2));
  await writeFile(path.join(dir, 'src', 'index.ts'), files.source ?? helloSource);
  if (files.readme !== undefined) await writeFile(path.join(dir, 'README.md'), files.readme);
  for (const [file, content] of Object.entries(files.extra ?? {})) {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), content);
  }
  await mkdir(path.join(dir, 'node_modules', '@plugline'), { recursive: true });
  await symlink(sdkDir, path.join(dir, 'node_modules', '@plugline', 'sdk'), 'dir');
  return dir;
}

import { mkdir, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import * as esbuild from 'esbuild';
import { type AssetManifest, registryPackageRoot as packageRoot, webAssetsDir } from './assets-dir.js';

/**
 * The browser script must not pull in the whole SDK (its index reads package.json with `node:fs`):
 * `@plugline/sdk` resolves to the SDK's built manifest module only (ajv, `validateConfig`, `redactConfig`),
 * the very code the runtime validates configs with.
 */
const sdkManifestOnly: esbuild.Plugin = {
  name: 'plugline-sdk-manifest',
  setup(build) {
    const require = createRequire(import.meta.url);
    const sdkRoot = dirname(require.resolve('@plugline/sdk/package.json'));
    build.onResolve({ filter: /^@plugline\/sdk$/ }, () => ({ path: join(sdkRoot, 'dist', 'manifest.js') }));
  },
};

/**
 * Bundles the marketplace's browser script and stylesheet with esbuild (minified, content-hashed file
 * names, code-split so the validator loads only on plugin pages) into `outdir`, and writes `assets.json`.
 * Run by `npm run build` (`node dist/web/build-assets.js`); users never need a build step.
 */
export async function buildWebAssets(outdir: string = webAssetsDir): Promise<AssetManifest> {
  const clientDir = join(packageRoot, 'src', 'web', 'client');
  await rm(outdir, { recursive: true, force: true });
  await mkdir(outdir, { recursive: true });
  const result = await esbuild.build({
    entryPoints: [join(clientDir, 'app.js'), join(clientDir, 'style.css')],
    outdir,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022', 'chrome110', 'firefox110', 'safari16'],
    minify: true,
    sourcemap: true,
    entryNames: '[name]-[hash]',
    chunkNames: 'chunks/[name]-[hash]',
    metafile: true,
    logLevel: 'warning',
    legalComments: 'linked',
    plugins: [sdkManifestOnly],
  });
  const manifest: AssetManifest = {};
  for (const [file, output] of Object.entries(result.metafile.outputs)) {
    const entry = output.entryPoint?.split('/').pop();
    if (entry === 'app.js' || entry === 'style.css') manifest[entry] = relative(outdir, resolve(file)).split('\\').join('/');
  }
  await writeFile(join(outdir, 'assets.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const manifest = await buildWebAssets();
  process.stdout.write(`marketplace assets: ${Object.values(manifest).join(', ')}\n`);
}

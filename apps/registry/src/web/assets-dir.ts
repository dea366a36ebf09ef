import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Both src/web/*.ts (tests) and dist/web/*.js (the built package) sit two folders below the package root.
const packageRoot = fileURLToPath(new URL('../../', import.meta.url));

/** The registry package's root folder. */
export const registryPackageRoot = packageRoot;

/** Where `npm run build` puts the marketplace's browser assets, and where the web router serves them from. */
export const webAssetsDir = join(packageRoot, 'dist', 'web', 'assets');

/** `assets.json` in the assets folder: entry (`app.js`, `style.css`) to its content-hashed file, relative to the folder. */
export type AssetManifest = Record<string, string>;

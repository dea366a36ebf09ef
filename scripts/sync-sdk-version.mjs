// After `changeset version`: write @plugline/sdk's new version into its SDK_VERSION literal.
import { readFileSync, writeFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../packages/sdk/package.json', import.meta.url), 'utf8'));
const file = new URL('../packages/sdk/src/version.ts', import.meta.url);
const source = readFileSync(file, 'utf8').replace(/SDK_VERSION = '[^']*'/, `SDK_VERSION = '${pkg.version}'`);
writeFileSync(file, source);

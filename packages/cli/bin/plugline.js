#!/usr/bin/env node
// The `plugline` binary as npm links it. It is committed (dist/ is built later), so `npm ci` links it even
// in a fresh clone; it only loads the built program.
import { existsSync } from 'node:fs';

const program = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(program)) {
  process.stderr.write('plugline: the CLI is not built yet: run `npm run build` (or `npm start`) at the repository root\n');
  process.exit(1);
}
await import(program.href);

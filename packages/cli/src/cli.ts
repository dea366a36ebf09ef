#!/usr/bin/env node
import module from 'node:module';

// V8's code cache on disk (Node's compile cache, in the OS temp folder): later runs skip compiling the
// CLI's and its dependencies' modules. Enabled before anything else is imported, hence the dynamic import.
module.enableCompileCache?.();
const { run } = await import('./program.js');

// The `plugline` binary: everything lives in program.ts; this file only sets the exit code.
process.exitCode = await run(process.argv);

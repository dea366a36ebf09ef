#!/usr/bin/env node
import { run } from './program.js';

// The `plugline` binary: everything lives in program.ts; this file only sets the exit code.
process.exitCode = await run(process.argv);

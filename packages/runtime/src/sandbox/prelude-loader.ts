import type ivm from 'isolated-vm';
import { PRELUDE_SCRIPT } from './prelude.js';

// V8's code cache of the prelude script, made by the first isolate of the process.
let cachedPrelude: ivm.ExternalCopy<ArrayBuffer> | undefined;

/**
 * Runs the prelude in a fresh context: compiles {@link PRELUDE_SCRIPT} (from the code cache after the
 * first isolate), runs it to get the prelude function, and calls it with `args` (the host bridges, the
 * init JSON, the shared flag buffer). Resolves a Reference to the internals it returns.
 */
export async function runPrelude(isolate: ivm.Isolate, context: ivm.Context, args: unknown[], timeoutMs: number): Promise<ivm.Reference> {
  const cached = cachedPrelude;
  const script = await isolate.compileScript(PRELUDE_SCRIPT, cached ? { filename: 'plugline:prelude', cachedData: cached } : { filename: 'plugline:prelude', produceCachedData: true });
  const produced = (script as unknown as { cachedData?: ivm.ExternalCopy<ArrayBuffer>; cachedDataRejected?: boolean }).cachedData;
  if (!cached && produced) cachedPrelude = produced;
  const prelude = (await script.run(context, { reference: true, timeout: timeoutMs })) as ivm.Reference;
  try {
    return (await prelude.apply(undefined, args, { result: { reference: true }, timeout: timeoutMs })) as ivm.Reference;
  } finally {
    prelude.release();
  }
}

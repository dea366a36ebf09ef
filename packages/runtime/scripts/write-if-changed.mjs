// Shared by the build scripts of generated modules (build-isolate.mjs, build-console.mjs).
import { readFileSync, writeFileSync } from 'node:fs';

/**
 * Writes `content` to `target` unless the file holds exactly that already (so watchers and tsc's
 * incremental builds see no change); returns whether it wrote.
 */
export function writeIfChanged(target, content) {
  let previous;
  try {
    previous = readFileSync(target, 'utf8');
  } catch {
    previous = undefined;
  }
  if (previous === content) return false;
  writeFileSync(target, content);
  return true;
}

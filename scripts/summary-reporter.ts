import type { Reporter, TestModule } from 'vitest/node';

/**
 * Prints one plain closing line, `tests: N passed, N failed, N skipped`, after vitest's own summary,
 * so CI (which reads that line) sees the same counts a developer sees; before it, one line per reason
 * given for skipped tests (`context.skip(reason)`).
 */
export default class SummaryReporter implements Reporter {
  onTestRunEnd(testModules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown>): void {
    let passed = 0;
    let failed = unhandledErrors.length;
    let skipped = 0;
    const notes = new Map<string, number>();
    for (const testModule of testModules) {
      if (testModule.state() === 'failed' && [...testModule.children.allTests()].length === 0) failed++;
      for (const test of testModule.children.allTests()) {
        const state = test.result().state;
        if (state === 'passed') passed++;
        else if (state === 'failed') failed++;
        else {
          skipped++;
          const note = (test.result() as { note?: string }).note;
          if (note) notes.set(note, (notes.get(note) ?? 0) + 1);
        }
      }
    }
    // Why tests were skipped, when they say (e.g. the MongoDB engine tests without a server).
    for (const [note, count] of notes) process.stdout.write(`\nskipped ${count}: ${note}`);
    process.stdout.write(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}

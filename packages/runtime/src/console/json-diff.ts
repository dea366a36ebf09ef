import { diffJson } from 'diff';
import { html, type Markup } from './html.js';

// A step's effect on an event as a line diff of the two events' JSON (jsdiff's diffJson: keys sorted,
// two-space indents), with long unchanged runs folded to a few lines of context around each change.

/** One line of a diff. */
export interface DiffLine {
  kind: 'added' | 'removed' | 'same' | 'folded';
  text: string;
}

const CONTEXT = 3;

/** The lines of `before` → `after` (`null` is an event dropped), unchanged runs folded past {@link CONTEXT} lines. */
export function jsonDiffLines(before: unknown, after: unknown): DiffLine[] {
  const lines: DiffLine[] = [];
  for (const part of diffJson((before ?? null) as object, (after ?? null) as object)) {
    const kind = part.added ? 'added' : part.removed ? 'removed' : 'same';
    const texts = part.value.replace(/\n$/, '').split('\n');
    for (const text of texts) lines.push({ kind, text });
  }
  const folded: DiffLine[] = [];
  const changed = lines.map((line) => line.kind !== 'same');
  const near = (index: number) => changed.slice(Math.max(0, index - CONTEXT), index + CONTEXT + 1).some(Boolean);
  let skipped = 0;
  lines.forEach((line, index) => {
    if (line.kind !== 'same' || near(index)) {
      if (skipped > 0) folded.push({ kind: 'folded', text: `… ${skipped} unchanged line${skipped === 1 ? '' : 's'}` });
      skipped = 0;
      folded.push(line);
    } else skipped += 1;
  });
  if (skipped > 0) folded.push({ kind: 'folded', text: `… ${skipped} unchanged line${skipped === 1 ? '' : 's'}` });
  return folded;
}

const marks = { added: '+', removed: '-', same: ' ', folded: ' ' } as const;

/** A rendered diff (`<pre class="diff">`, one `<span>` per line, `+`/`-` marks for screen readers and copy). */
export function renderJsonDiff(before: unknown, after: unknown): Markup {
  return html`<pre class="diff">${jsonDiffLines(before, after).map((line) => html`<span class="diff-${line.kind}">${marks[line.kind]} ${line.text}\n</span>`)}</pre>`;
}

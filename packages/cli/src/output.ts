import { readFile } from 'node:fs/promises';
import { type ErrorCode, isPluglineError, PluglineError } from '@plugline/sdk';

/** The CLI's exit codes: 0 success, 1 an error (network, registry, plugin, files), 2 a usage error. */
export const exitCodes = { ok: 0, error: 1, usage: 2 } as const;

/** Where a command writes: results on stdout (JSON with `--json`), progress and errors on stderr. */
export interface Output {
  json: boolean;
  quiet: boolean;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

const ESC = 0x1b;
const BEL = 0x07;
const ST = 0x9c;
// C1 introducers of string sequences (DCS, SOS, OSC, PM, APC) and CSI, and their ESC forms.
const C1_STRINGS = new Set([0x90, 0x98, 0x9d, 0x9e, 0x9f]);
const ESC_STRINGS = new Set(['P', 'X', ']', '^', '_']);

/** Where the escape sequence starting at `start` ends (the index of its last character). */
function escapeEnd(text: string, start: number): number {
  const first = text.charCodeAt(start);
  let i = start + 1;
  let kind: 'csi' | 'string' | 'esc';
  if (first === 0x9b) kind = 'csi';
  else if (C1_STRINGS.has(first)) kind = 'string';
  else if (text[i] === '[') {
    kind = 'csi';
    i += 1;
  } else if (text[i] !== undefined && ESC_STRINGS.has(text[i] as string)) {
    kind = 'string';
    i += 1;
  } else kind = 'esc';
  if (kind === 'csi') {
    // Parameters, intermediates, one final byte.
    while (i < text.length && text.charCodeAt(i) >= 0x20 && text.charCodeAt(i) <= 0x3f) i += 1;
    return i < text.length && text.charCodeAt(i) >= 0x40 && text.charCodeAt(i) <= 0x7e ? i : i - 1;
  }
  if (kind === 'string') {
    // Up to BEL or ST (ESC \ or 0x9c); an unterminated one ends at the line's end.
    for (; i < text.length; i += 1) {
      const code = text.charCodeAt(i);
      if (code === BEL || code === ST) return i;
      if (code === ESC && text[i + 1] === '\\') return i + 1;
      if (code === 0x0a) return i - 1;
    }
    return text.length - 1;
  }
  while (i < text.length && text.charCodeAt(i) >= 0x20 && text.charCodeAt(i) <= 0x2f) i += 1;
  return i < text.length && text.charCodeAt(i) >= 0x30 && text.charCodeAt(i) <= 0x7e ? i : i - 1;
}

/**
 * Text that is safe to print on a terminal: terminal escape sequences (CSI such as `ESC[2J`, OSC such as
 * OSC 52 clipboard writes and OSC 8 links, DCS/APC/PM/SOS) are removed whole, and every other C0/C1
 * control character and DEL is dropped. `multiline` keeps newlines and tabs (else they become spaces).
 * Everything the CLI prints goes through here: a registry's descriptions, errors and names included.
 *
 * @example
 * ```ts
 * sanitizeText('hi\u001b[2J \u001b]52;c;aGk=\u0007there'); // 'hi there'
 * ```
 */
export function sanitizeText(text: string, options: { multiline?: boolean } = {}): string {
  let out = '';
  let kept = 0;
  for (let i = 0; i < text.length; i += 1) {
    const code = text.charCodeAt(i);
    const control = code < 0x20 || (code >= 0x7f && code <= 0x9f);
    if (!control) continue;
    out += text.slice(kept, i);
    if (code === ESC || code === 0x9b || C1_STRINGS.has(code)) i = escapeEnd(text, i);
    else if (code === 0x0a || code === 0x09) out += options.multiline ? text[i] : ' ';
    kept = i + 1;
  }
  return kept === 0 ? text : out + text.slice(kept);
}

/** JSON for `--json`: JSON.stringify escapes C0 controls; C1 controls (which some terminals obey) are escaped too. */
export function safeJson(data: unknown): string {
  const json = JSON.stringify(data, null, 2);
  let out = '';
  let kept = 0;
  for (let i = 0; i < json.length; i += 1) {
    const code = json.charCodeAt(i);
    if (code < 0x80 || code > 0x9f) continue;
    out += `${json.slice(kept, i)}\\u${code.toString(16).padStart(4, '0')}`;
    kept = i + 1;
  }
  return kept === 0 ? json : out + json.slice(kept);
}

/** A progress line on stderr (silent with `--quiet`), e.g. `bundling src/index.ts`. */
export function progress(out: Output, message: string): void {
  if (!out.quiet) out.stderr.write(`${sanitizeText(message, { multiline: true })}\n`);
}

/** Prints a command's result: `human` as text (sanitised), or `data` as JSON with `--json`. */
export function result(out: Output, human: string, data: unknown): void {
  const text = sanitizeText(human, { multiline: true });
  out.stdout.write(out.json ? `${safeJson(data)}\n` : text.endsWith('\n') ? text : `${text}\n`);
}

/** The code and one-line message of any error: coded errors keep their code, others are ERR_INTERNAL. */
export function describeError(error: unknown): { code: ErrorCode | string; message: string } {
  const code = isPluglineError(error) ? error.code : 'ERR_INTERNAL';
  const message = sanitizeText(error instanceof Error ? error.message : String(error), { multiline: true });
  return { code: sanitizeText(code), message: message.replace(/\s*\n\s*/g, ' ').trim() || code };
}

/** The one line every error prints on stderr: `error ERR_CODE: message`. */
export function formatError(error: unknown): string {
  const { code, message } = describeError(error);
  return `error ${code}: ${message}`;
}

/** Exit code for an error: 2 for usage errors, else 1. */
export function exitCodeFor(error: unknown): number {
  return isPluglineError(error) && error.code === 'ERR_USAGE' ? exitCodes.usage : exitCodes.error;
}

/** Reads and parses a JSON file the user pointed at, failing with `code` and the file name. */
export async function readJsonFile(file: string, code: ErrorCode): Promise<unknown> {
  try {
    return JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new PluglineError(code, `cannot read ${file}: ${(error as Error).message}`);
  }
}

/** Formats a byte count for humans: `1.2 kB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1000) return `${bytes} B`;
  if (bytes < 1_000_000) return `${(bytes / 1000).toFixed(1)} kB`;
  return `${(bytes / 1_000_000).toFixed(1)} MB`;
}

/** A plain-text table: a header row and rows, columns padded to their widest cell. */
export function table(header: readonly string[], rawRows: readonly (readonly string[])[]): string {
  // Cells are one line each: a newline in a registry's description must not break the layout.
  const rows = rawRows.map((row) => row.map((cell) => sanitizeText(cell)));
  const widths = header.map((cell, column) => Math.max(cell.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (row: readonly string[]) => row.map((cell, column) => cell.padEnd(widths[column] ?? 0)).join('  ').trimEnd();
  return [line(header), line(widths.map((width) => '-'.repeat(width))), ...rows.map(line)].join('\n');
}

/** Reads a `--config file.json`: a JSON object (the plugin config), else ERR_CONFIG_INVALID. */
export async function readConfigObject(file: string): Promise<Record<string, unknown>> {
  const value = await readJsonFile(file, 'ERR_CONFIG_INVALID');
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new PluglineError('ERR_CONFIG_INVALID', `${file} must hold a JSON object (the plugin config)`);
  }
  return value as Record<string, unknown>;
}

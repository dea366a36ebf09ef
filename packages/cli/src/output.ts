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

/** A progress line on stderr (silent with `--quiet`), e.g. `bundling src/index.ts`. */
export function progress(out: Output, message: string): void {
  if (!out.quiet) out.stderr.write(`${message}\n`);
}

/** Prints a command's result: `human` as text, or `data` as JSON with `--json`. */
export function result(out: Output, human: string, data: unknown): void {
  out.stdout.write(out.json ? `${JSON.stringify(data, null, 2)}\n` : human.endsWith('\n') ? human : `${human}\n`);
}

/** The code and one-line message of any error: coded errors keep their code, others are ERR_INTERNAL. */
export function describeError(error: unknown): { code: ErrorCode | string; message: string } {
  const code = isPluglineError(error) ? error.code : 'ERR_INTERNAL';
  const message = error instanceof Error ? error.message : String(error);
  return { code, message: message.replace(/\s*\n\s*/g, ' ').trim() || code };
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
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
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

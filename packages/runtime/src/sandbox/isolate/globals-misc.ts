import type { Buffered, LogLevel } from './buffered.js';
import { freeze, jsonStringify } from './intrinsics.js';

/** `console.*` -> the plugin's logs (buffered). */
export function formatArg(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value instanceof Error) return value.stack || String(value);
  try {
    const text = jsonStringify(value);
    return text === undefined ? String(value) : text;
  } catch {
    return String(value);
  }
}

export function createConsole(buffered: Buffered): Readonly<Record<string, (...args: unknown[]) => void>> {
  const consoleObject: Record<string, (...args: unknown[]) => void> = {};
  const methods: [string, LogLevel][] = [
    ['log', 'info'],
    ['info', 'info'],
    ['debug', 'debug'],
    ['warn', 'warn'],
    ['error', 'error'],
    ['trace', 'debug'],
  ];
  for (const [method, level] of methods) {
    consoleObject[method] = (...args: unknown[]) => {
      buffered.log(level, args.map(formatArg).join(' '), undefined);
    };
  }
  return freeze(consoleObject);
}

/**
 * RetryError (exportEvents throws it to be retried). PostHog's shape: _attempt/_maxAttempts (set by
 * the host when known) and nameWithAttempts.
 */
export class RetryError extends Error {
  _attempt: number | undefined;
  _maxAttempts: number | undefined;
  constructor(message = 'Retry requested') {
    super(message);
    this.name = 'RetryError';
    this._attempt = undefined;
    this._maxAttempts = undefined;
  }
  get nameWithAttempts(): string {
    return this._attempt && this._maxAttempts ? `${this.name} (attempt ${this._attempt}/${this._maxAttempts})` : this.name;
  }
  override toString(): string {
    return this.message ? `${this.nameWithAttempts}: ${this.message}` : this.nameWithAttempts;
  }
}

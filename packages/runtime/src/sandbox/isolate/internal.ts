/**
 * The channel from the prelude to the library modules (`plugline:*`, compiled on demand when a plugin
 * imports them): one frozen object on a non-writable, non-configurable, non-enumerable global keyed by
 * `Symbol.for('plugline.internal')`. It holds only what the plugin could reach anyway (its own
 * granted services, the globals' classes), so a plugin reading it gains nothing; it cannot replace it.
 */
export const INTERNAL_KEY = Symbol.for('plugline.internal');

export interface IsolateInternal {
  /** node-fetch's FetchError, thrown by the global fetch on network failures. */
  FetchError: new (message: string, type: string, systemError?: { code?: unknown; errno?: unknown }) => Error;
  /** The plugin's `postgres` host service when the capability is granted, else undefined. */
  postgresQuery: ((connectionString: unknown, text: unknown, values?: unknown) => Promise<unknown>) | undefined;
}

/** The prelude's internal object, for a library module (throws when read outside an isolate). */
export function isolateInternal(): IsolateInternal {
  const value = (globalThis as Record<symbol, unknown>)[INTERNAL_KEY] as IsolateInternal | undefined;
  if (!value) throw new Error('plugline: the isolate prelude is not loaded');
  return value;
}

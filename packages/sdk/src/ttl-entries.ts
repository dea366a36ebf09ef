// Internal: the expiring key/value map behind the in-memory caches of `@plugline/sdk/testing` and
// `@plugline/sdk/posthog-testing` (not exported from the package).

/** An entry with its expiry (ms since the epoch; `Infinity` for none). */
export interface TtlEntry<V> {
  value: V;
  expiresAt: number;
}

/**
 * A map of expiring entries and `live(key)`: the entry, or `undefined` once it has expired (it is then
 * deleted).
 *
 * @example
 * ```ts
 * const { entries, live } = ttlEntries<number>();
 * entries.set('hits', { value: 1, expiresAt: Date.now() + 1000 });
 * live('hits')?.value; // 1, for a second
 * ```
 */
export function ttlEntries<V>(now: () => number = Date.now): { entries: Map<string, TtlEntry<V>>; live: (key: string) => TtlEntry<V> | undefined } {
  const entries = new Map<string, TtlEntry<V>>();
  const live = (key: string) => {
    const entry = entries.get(key);
    if (entry && entry.expiresAt <= now()) {
      entries.delete(key);
      return undefined;
    }
    return entry;
  };
  return { entries, live };
}

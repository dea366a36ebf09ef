import type { Bridge } from './bridge.js';
import { throwIfHostError } from './bridge.js';
import { jsonParse, jsonStringify, mapDelete, mapGet, mapKeys, mapSet, mapSize, ReflectApply } from './intrinsics.js';

/** How many IPs' answers one isolate keeps. */
export const GEOIP_CACHE_SIZE = 1024;

/**
 * meta.geoip.locate: answers kept per IP (bounded LRU), so repeated IPs do not cross; each caller
 * gets its own copy (parsed from the cached JSON), so a plugin mutating a result changes nothing else.
 * The Map methods are the captured ones: a plugin replacing `Map.prototype.get` changes nothing here.
 */
export function createLocate(bridge: Bridge): (ip: unknown) => Promise<unknown> {
  const geoipCache = new Map<string, string>();
  return async function locate(input: unknown): Promise<unknown> {
    const ip = String(input);
    let text = ReflectApply(mapGet, geoipCache, [ip]) as string | undefined;
    if (text !== undefined) {
      // Most recently used last: re-insert.
      ReflectApply(mapDelete, geoipCache, [ip]);
      ReflectApply(mapSet, geoipCache, [ip, text]);
    } else {
      const answer = await bridge.callAsyncText('geoip', jsonStringify([ip]));
      text = typeof answer === 'string' ? answer : 'null';
      throwIfHostError(text);
      if ((ReflectApply(mapSize, geoipCache, []) as number) >= GEOIP_CACHE_SIZE) {
        const oldest = (ReflectApply(mapKeys, geoipCache, []) as IterableIterator<string>).next().value;
        ReflectApply(mapDelete, geoipCache, [oldest]);
      }
      ReflectApply(mapSet, geoipCache, [ip, text]);
    }
    return jsonParse(text) ?? null;
  };
}

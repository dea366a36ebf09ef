import { definePlugin } from '@plugline/sdk';

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * Removes one dot path from an object, in place. A key that itself contains dots is matched first
 * (`"a.b"` removes a top-level key named `a.b` if there is one); otherwise the path walks nested
 * objects. Arrays are not walked. Returns whether something was removed.
 */
export function removePath(target: Json, path: string): boolean {
  if (Object.hasOwn(target, path)) {
    delete target[path];
    return true;
  }
  const segments = path.split('.');
  const last = segments.pop();
  let parent: unknown = target;
  for (const segment of segments) {
    if (!isObject(parent)) return false;
    parent = parent[segment];
  }
  if (!isObject(parent) || last === undefined || !Object.hasOwn(parent, last)) return false;
  delete parent[last];
  return true;
}

/**
 * Removes listed properties from every event, by dot path into nested objects (`user.email`). Meant to
 * run last in the chain, so the properties other plugins used (the IP, say) never reach storage or an
 * export.
 */
export default definePlugin({
  config: {
    type: 'object',
    properties: {
      properties: {
        type: 'array',
        items: { type: 'string', minLength: 1, pattern: '^[^.\\n\\r]+(?:\\.[^.\\n\\r]+)*$' },
        default: [],
        description: 'Dot paths of the properties to remove, e.g. ["$ip", "user.email"]. Paths are relative to event.properties.',
      },
      personProperties: {
        type: 'boolean',
        default: true,
        description: 'Also remove the same paths from $set and $set_once (person properties).',
      },
      removeIp: {
        type: 'boolean',
        default: false,
        description: 'Also clear the top-level event.ip field.',
      },
    },
  },
  processEvent(event, { config, metrics }) {
    let removed = 0;
    const targets = [event.properties, ...(config.personProperties ? [event.$set, event.$set_once] : [])];
    for (const target of targets) {
      if (!isObject(target)) continue;
      for (const path of config.properties) if (removePath(target, path)) removed++;
    }
    if (config.removeIp && event.ip != null) {
      event.ip = null;
      removed++;
    }
    if (removed > 0) metrics.increment('properties_removed', removed);
    return event;
  },
});

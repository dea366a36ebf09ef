import { definePlugin } from '@plugline/sdk';

/** Storage key of "this person did this event"; JSON keeps any event name or id unambiguous. */
export const userKey = (event: string, distinctId: string): string => `user:${JSON.stringify([event, distinctId])}`;
/** Storage key of "someone did this event". */
export const everKey = (event: string): string => `ever:${JSON.stringify(event)}`;

// Tails of the per-key queues. The runtime runs several processEvent calls of a batch at once, and this
// plugin reads then writes storage, so calls for the same key must take turns (in call order).
const queues = new Map<string, Promise<void>>();

/** Runs `task` after every earlier task of the same key has finished, one at a time per key. */
export async function withKeyLock<T>(key: string, task: () => Promise<T>): Promise<T> {
  const previous = queues.get(key) ?? Promise.resolve();
  let release!: () => void;
  const tail = previous.then(() => new Promise<void>((resolve) => (release = resolve)));
  queues.set(key, tail);
  await previous;
  try {
    return await task();
  } finally {
    release();
    if (queues.get(key) === tail) queues.delete(key);
  }
}

/**
 * Marks the first time a `distinct_id` does an event (`is_first_event_for_user: true`, `false` on every
 * later one) and, optionally, the first time anyone does it (`is_first_event_ever`). What has been seen
 * is kept in the plugin's persistent storage (`meta.storage`), so it survives restarts. The timestamp
 * of the first time is stored as well and added as `first_event_timestamp`. Concurrent calls for the
 * same person and event take turns, so a batch processed in parallel marks only its first event.
 */
export default definePlugin({
  config: {
    type: 'object',
    properties: {
      events: {
        type: 'array',
        items: { type: 'string', minLength: 1 },
        default: [],
        description: 'Event names to track; empty tracks every event.',
      },
      trackFirstEver: {
        type: 'boolean',
        default: true,
        description: 'Also set is_first_event_ever: whether this is the first time anyone did the event.',
      },
    },
  },
  async processEvent(event, { config, storage, metrics }) {
    if (config.events.length > 0 && !config.events.includes(event.event)) return event;
    const key = userKey(event.event, event.distinct_id);
    const firstSeen = await withKeyLock(key, async () => {
      const seen = await storage.get<string>(key);
      if (seen === null) {
        await storage.set(key, event.timestamp);
        metrics.increment('first_events');
      }
      return seen;
    });
    event.properties.is_first_event_for_user = firstSeen === null;
    event.properties.first_event_timestamp = firstSeen ?? event.timestamp;
    if (config.trackFirstEver) {
      const ever = everKey(event.event);
      event.properties.is_first_event_ever = await withKeyLock(ever, async () => {
        if ((await storage.get(ever)) !== null) return false;
        await storage.set(ever, event.timestamp);
        return true;
      });
    }
    return event;
  },
});

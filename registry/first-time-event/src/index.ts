import { definePlugin } from '@plugline/sdk';

/** Storage key of "this person did this event"; JSON keeps any event name or id unambiguous. */
export const userKey = (event: string, distinctId: string): string => `user:${JSON.stringify([event, distinctId])}`;
/** Storage key of "someone did this event". */
export const everKey = (event: string): string => `ever:${JSON.stringify(event)}`;

/**
 * Marks the first time a `distinct_id` does an event (`is_first_event_for_user: true`, `false` on every
 * later one) and, optionally, the first time anyone does it (`is_first_event_ever`). What has been seen
 * is kept in the plugin's persistent storage (`meta.storage`), so it survives restarts. The timestamp
 * of the first time is stored as well and added as `first_event_timestamp`.
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
    const firstSeen = await storage.get<string>(key);
    const isFirstForUser = firstSeen === null;
    if (isFirstForUser) {
      await storage.set(key, event.timestamp);
      metrics.increment('first_events');
    }
    event.properties.is_first_event_for_user = isFirstForUser;
    event.properties.first_event_timestamp = firstSeen ?? event.timestamp;
    if (config.trackFirstEver) {
      const isFirstEver = (await storage.get(everKey(event.event))) === null;
      if (isFirstEver) await storage.set(everKey(event.event), event.timestamp);
      event.properties.is_first_event_ever = isFirstEver;
    }
    return event;
  },
});

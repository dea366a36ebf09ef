import type { JsonValue } from '@plugline/sdk';
import { createEvent, createMeta, runChain } from '@plugline/sdk/testing';
import { describe, expect, it } from 'vitest';
import plugin, { userKey } from './index.js';

const at = (second: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, second)).toISOString();

describe('first-time-event', () => {
  it('marks the first event per person and per event name, and later ones as not first', async () => {
    const input = [
      createEvent({ event: 'signed_up', distinct_id: 'ada', timestamp: at(1) }),
      createEvent({ event: 'signed_up', distinct_id: 'ada', timestamp: at(2) }),
      createEvent({ event: 'signed_up', distinct_id: 'bob', timestamp: at(3) }),
      createEvent({ event: 'purchase', distinct_id: 'ada', timestamp: at(4) }),
    ];
    const { events, errors } = await runChain([plugin], input);
    expect(errors).toEqual([]);
    expect(events.map((event) => event.properties)).toEqual([
      { is_first_event_for_user: true, first_event_timestamp: at(1), is_first_event_ever: true },
      { is_first_event_for_user: false, first_event_timestamp: at(1), is_first_event_ever: false },
      { is_first_event_for_user: true, first_event_timestamp: at(3), is_first_event_ever: false },
      { is_first_event_for_user: true, first_event_timestamp: at(4), is_first_event_ever: true },
    ]);
  });

  it('remembers across restarts through plugin storage', async () => {
    const storageData = new Map<string, JsonValue>();
    const run = (timestamp: string) =>
      runChain([{ plugin, meta: createMeta<never, never>({ storageData }) }], [createEvent({ event: 'signed_up', distinct_id: 'ada', timestamp })]);
    const first = await run(at(1));
    const afterRestart = await run(at(9));
    expect(first.events[0]?.properties.is_first_event_for_user).toBe(true);
    expect(afterRestart.events[0]?.properties).toMatchObject({ is_first_event_for_user: false, first_event_timestamp: at(1) });
    expect(storageData.get(userKey('signed_up', 'ada'))).toBe(at(1));
  });

  it('only tracks the listed events, and can skip is_first_event_ever', async () => {
    const input = [createEvent({ event: '$pageview' }), createEvent({ event: 'signed_up' })];
    const { events } = await runChain([{ plugin, config: { events: ['signed_up'], trackFirstEver: false } }], input);
    expect(events[0]?.properties).toEqual({});
    expect(events[1]?.properties).toEqual({ is_first_event_for_user: true, first_event_timestamp: input[1]?.timestamp });
  });

  it('marks only the first of concurrent events of one person (the runtime runs a batch in parallel)', async () => {
    const meta = createMeta<never, never>({ config: { events: [], trackFirstEver: true } as never });
    // Slow storage widens the window between the read and the write.
    const { get, set } = meta.storage;
    meta.storage.get = async (key, fallback) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      return get(key, fallback);
    };
    meta.storage.set = async (key, value) => {
      await new Promise((resolve) => setTimeout(resolve, 5));
      return set(key, value);
    };
    const events = [1, 2, 3].map((second) => createEvent({ event: 'purchase', distinct_id: 'ada', timestamp: at(second) }));
    const results = await Promise.all(events.map((event) => plugin.processEvent!(event, meta as never)));
    expect(results.map((event) => event?.properties.is_first_event_for_user)).toEqual([true, false, false]);
    expect(results.map((event) => event?.properties.is_first_event_ever)).toEqual([true, false, false]);
    expect(results.map((event) => event?.properties.first_event_timestamp)).toEqual([at(1), at(1), at(1)]);
  });

  it('lets the event through unchanged when storage fails', async () => {
    const meta = createMeta<never, never>();
    meta.storage.get = async () => {
      throw new Error('storage unavailable');
    };
    const event = createEvent();
    const { events, errors } = await runChain([{ plugin, name: 'first-time-event', version: '1.0.0', meta }], [event]);
    expect(events).toEqual([event]);
    expect(errors.map((error) => error.message)).toEqual(['first-time-event@1.0.0 processEvent: storage unavailable']);
  });

  it('rejects a non-list events config with ERR_CONFIG_INVALID', async () => {
    await expect(runChain([{ plugin, config: { events: 'signed_up' } }], [createEvent()])).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID' });
  });
});

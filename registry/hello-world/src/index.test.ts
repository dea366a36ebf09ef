import { createEvent, runChain } from '@plugline/sdk/testing';
import { describe, expect, it } from 'vitest';
import plugin from './index.js';

describe('hello-world', () => {
  it('adds hello: "world" and keeps the other properties', async () => {
    const { events, errors } = await runChain([plugin], [createEvent({ properties: { plan: 'pro' } })]);
    expect(errors).toEqual([]);
    expect(events.map((event) => event.properties)).toEqual([{ plan: 'pro', hello: 'world' }]);
  });

  it('overwrites an existing hello property', async () => {
    const { events } = await runChain([plugin], [createEvent({ properties: { hello: 'there' } })]);
    expect(events[0]?.properties.hello).toBe('world');
  });

  it('never drops an event', async () => {
    const input = [createEvent({ event: 'a' }), createEvent({ event: 'b' })];
    const { events, dropped } = await runChain([plugin], input);
    expect(events.map((event) => event.event)).toEqual(['a', 'b']);
    expect(dropped).toEqual([]);
  });

  it('rejects config keys it does not know with ERR_CONFIG_INVALID', async () => {
    // A type error as well; the harness must still refuse it at run time.
    // @ts-expect-error greeting is not in the schema
    await expect(runChain([{ plugin, config: { greeting: 'hi' } }], [createEvent()])).rejects.toMatchObject({
      code: 'ERR_CONFIG_INVALID',
    });
  });
});

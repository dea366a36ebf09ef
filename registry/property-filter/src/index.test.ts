import { createEvent, runChain } from '@plugline/sdk/testing';
import { describe, expect, it } from 'vitest';
import plugin, { removePath } from './index.js';

describe('property-filter', () => {
  it('removes top-level and nested properties by dot path, keeping the rest', async () => {
    const input = createEvent({
      properties: { $ip: '8.8.8.8', plan: 'pro', user: { email: 'a@example.com', name: 'Ada', address: { zip: '10115', city: 'Berlin' } } },
    });
    const { events, errors, metas } = await runChain(
      [{ plugin, name: 'property-filter', config: { properties: ['$ip', 'user.email', 'user.address.zip'] } }],
      [input],
    );
    expect(errors).toEqual([]);
    expect(events[0]?.properties).toEqual({ plan: 'pro', user: { name: 'Ada', address: { city: 'Berlin' } } });
    expect(metas.get('property-filter')?.metricValues.get('properties_removed')).toBe(3);
  });

  it('removes from $set and $set_once too, unless told not to', async () => {
    const input = createEvent({ properties: { email: 'a@x' }, $set: { email: 'a@x', plan: 'pro' }, $set_once: { email: 'a@x' } });
    const filtered = await runChain([{ plugin, config: { properties: ['email'] } }], [input]);
    expect(filtered.events[0]).toMatchObject({ properties: {}, $set: { plan: 'pro' }, $set_once: {} });
    const eventOnly = await runChain([{ plugin, config: { properties: ['email'], personProperties: false } }], [input]);
    expect(eventOnly.events[0]).toMatchObject({ properties: {}, $set: { email: 'a@x', plan: 'pro' }, $set_once: { email: 'a@x' } });
  });

  it('can clear event.ip', async () => {
    const { events } = await runChain([{ plugin, config: { removeIp: true } }], [createEvent({ ip: '8.8.8.8' })]);
    expect(events[0]?.ip).toBeNull();
  });

  it('ignores paths that are missing or go through non-objects, and never drops events', async () => {
    const input = createEvent({ properties: { list: [{ a: 1 }], name: 'x', n: null } });
    const { events, dropped, errors } = await runChain(
      [{ plugin, config: { properties: ['missing', 'name.first', 'list.0.a', 'n.x', 'deep.er.still'] } }],
      [input],
    );
    expect(errors).toEqual([]);
    expect(dropped).toEqual([]);
    expect(events).toEqual([input]);
  });

  it('matches a key that contains dots before walking the path', () => {
    const target = { 'utm.source': 'ads', utm: { source: 'kept' } };
    expect(removePath(target, 'utm.source')).toBe(true);
    expect(target).toEqual({ utm: { source: 'kept' } });
  });

  it('rejects malformed paths with ERR_CONFIG_INVALID', async () => {
    for (const bad of ['', '.a', 'a.', 'a..b']) {
      await expect(runChain([{ plugin, config: { properties: [bad] } }], [createEvent()])).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID' });
    }
    await expect(runChain([{ plugin, config: { properties: 'a,b' } }], [createEvent()])).rejects.toThrow(/config\.properties: must be array/);
  });
});

import { createEvent, runChain } from '@plugline/sdk/testing';
import { describe, expect, it } from 'vitest';
import plugin, { compileSchemas } from './index.js';

const schemas = {
  signed_up: {
    type: 'object',
    required: ['plan', 'email'],
    properties: { plan: { enum: ['free', 'pro'] }, email: { type: 'string', format: 'email' }, seats: { type: 'integer', minimum: 1 } },
  },
};

const valid = () => createEvent({ event: 'signed_up', properties: { plan: 'pro', email: 'ada@example.com', seats: 3 } });
const invalid = () => createEvent({ event: 'signed_up', properties: { plan: 'gold', email: 'not-an-email', seats: 0 } });

describe('schema-enforcer', () => {
  it('lets valid events through unchanged and drops invalid ones by default, logging why', async () => {
    const good = valid();
    const bad = invalid();
    const { events, dropped, errors, metas } = await runChain([{ plugin, name: 'schema-enforcer', config: { schemas } }], [good, bad]);
    expect(errors).toEqual([]);
    expect(events).toEqual([good]);
    expect(dropped.map((entry) => entry.event.uuid)).toEqual([bad.uuid]);
    const meta = metas.get('schema-enforcer');
    expect(meta?.metricValues.get('events_dropped')).toBe(1);
    expect(meta?.logs[0]?.fields?.errors).toEqual([
      'properties.plan: must be one of "free", "pro"',
      'properties.email: must match format "email"',
      'properties.seats: must be >= 1',
    ]);
  });

  it('tags invalid events with their errors when onInvalid is tag', async () => {
    const bad = createEvent({ event: 'signed_up', properties: { plan: 'pro' } });
    const { events, dropped } = await runChain([{ plugin, config: { schemas, onInvalid: 'tag', tagProperty: 'problems' } }], [bad]);
    expect(dropped).toEqual([]);
    expect(events[0]?.properties).toEqual({ plan: 'pro', problems: ['properties.email: is required'] });
  });

  it('allows, drops or tags events without a schema, by config', async () => {
    const other = createEvent({ event: '$pageview' });
    const allowed = await runChain([{ plugin, config: { schemas } }], [other]);
    expect(allowed.events).toEqual([other]);
    const droppedRun = await runChain([{ plugin, config: { schemas, onUnknownEvent: 'drop' } }], [other]);
    expect(droppedRun.events).toEqual([]);
    const tagged = await runChain([{ plugin, config: { schemas, onUnknownEvent: 'tag' } }], [other]);
    expect(tagged.events[0]?.properties.$schema_errors).toEqual(['no schema for event "$pageview"']);
  });

  it('fails setup naming the event whose schema is invalid, and lets events through', async () => {
    const broken = { signed_up: { type: 'nope' } };
    expect(() => compileSchemas(broken)).toThrow(/schemas\["signed_up"\]: not a valid JSON Schema/);
    const event = invalid();
    const { events, errors } = await runChain([{ plugin, config: { schemas: broken } }], [event]);
    expect(events).toEqual([event]);
    expect(errors.map((error) => error.hook)).toEqual(['setupPlugin', 'processEvent']);
  });

  it('rejects a schema that is not an object and an unknown mode with ERR_CONFIG_INVALID', async () => {
    for (const config of [{ schemas: { signed_up: 'string' } }, { onInvalid: 'ignore' }]) {
      await expect(runChain([{ plugin, config }], [createEvent()])).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID' });
    }
  });
});

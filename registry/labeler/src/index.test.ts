import { createEvent, runChain } from '@plugline/sdk/testing';
import { describe, expect, it } from 'vitest';
import plugin, { compileRules, conditionHolds, eventPattern } from './index.js';

const rules = [
  { label: 'big-spender', event: 'purchase', conditions: [{ property: 'cart.total', operator: 'gte', value: 100 }] },
  { label: 'us-visitor', event: '$page*', conditions: [{ property: '$geoip_country_code', operator: 'eq', value: 'US' }] },
  { label: 'purchaser', event: 'purchase' },
];

describe('labeler', () => {
  it('sets the label of the first matching rule', async () => {
    const input = [
      createEvent({ event: 'purchase', properties: { cart: { total: 250 } } }),
      createEvent({ event: 'purchase', properties: { cart: { total: 20 } } }),
      createEvent({ event: '$pageview', properties: { $geoip_country_code: 'US' } }),
      createEvent({ event: '$pageleave', properties: { $geoip_country_code: 'GB' } }),
    ];
    const { events, errors } = await runChain([{ plugin, config: { rules } }], input);
    expect(errors).toEqual([]);
    expect(events.map((event) => event.properties.label)).toEqual(['big-spender', 'purchaser', 'us-visitor', undefined]);
    expect(events[3]?.properties).not.toHaveProperty('label');
  });

  it('sets every matching label with multiple, into a custom property, and a default label', async () => {
    const config = { rules, multiple: true, property: 'segments', defaultLabel: 'other' };
    const input = [createEvent({ event: 'purchase', properties: { cart: { total: 250 } } }), createEvent({ event: 'signed_up' })];
    const { events } = await runChain([{ plugin, config }], input);
    expect(events.map((event) => event.properties.segments)).toEqual([['big-spender', 'purchaser'], ['other']]);
  });

  it('supports every operator', () => {
    const properties = { n: 5, s: 'hello world', list: ['a', 'b'], nested: { ok: true }, nil: null };
    const holds = (property: string, operator: Parameters<typeof conditionHolds>[0]['operator'], value?: unknown) =>
      conditionHolds({ property, operator, value }, properties);
    expect([holds('n', 'eq', 5), holds('n', 'neq', 5), holds('nested.ok', 'eq', true)]).toEqual([true, false, true]);
    expect([holds('n', 'gt', 4), holds('n', 'gte', 5), holds('n', 'lt', 5), holds('n', 'lte', 5)]).toEqual([true, true, false, true]);
    // Ordering never compares across types: "10" is not greater than 4.
    expect(holds('s', 'gt', 4)).toBe(false);
    expect([holds('n', 'in', [1, 5]), holds('n', 'in', [1])]).toEqual([true, false]);
    expect([holds('s', 'contains', 'world'), holds('list', 'contains', 'b'), holds('list', 'contains', 'z')]).toEqual([true, true, false]);
    expect([holds('s', 'regex', '^hel+o'), holds('s', 'regex', '^world')]).toEqual([true, false]);
    expect([holds('nested', 'exists'), holds('nil', 'exists'), holds('missing', 'not_exists'), holds('n', 'not_exists')]).toEqual([
      true,
      false,
      true,
      false,
    ]);
  });

  it('matches event names with * wildcards and nothing else special', () => {
    expect(eventPattern('$page*').test('$pageview')).toBe(true);
    expect(eventPattern('a.b').test('axb')).toBe(false);
    expect(eventPattern('*').test('anything')).toBe(true);
  });

  it('fails setup with the rule named when a regex is invalid, and lets events through unlabeled', async () => {
    const config = { rules: [{ label: 'x', conditions: [{ property: 's', operator: 'regex', value: '(' }] }] };
    expect(() => compileRules(config.rules as never)).toThrow(/rules\[0\]\.conditions\[0\]: invalid regex "\("/);
    const event = createEvent({ properties: { s: 'a' } });
    const { events, errors } = await runChain([{ plugin, name: 'labeler', config }], [event]);
    expect(events).toEqual([event]);
    expect(errors.map((error) => error.hook)).toEqual(['setupPlugin', 'processEvent']);
    expect(errors[0]?.message).toMatch(/labeler@0\.0\.0 setupPlugin: rules\[0\]\.conditions\[0\]: invalid regex/);
  });

  it('rejects a condition without the value its operator needs', () => {
    expect(() => compileRules([{ label: 'x', conditions: [{ property: 'a', operator: 'in', value: 'b' }] }])).toThrow(/"in" needs an array value/);
    expect(() => compileRules([{ label: 'x', conditions: [{ property: 'a', operator: 'gt' }] }])).toThrow(/"gt" needs a value/);
  });

  it('rejects malformed rules with ERR_CONFIG_INVALID', async () => {
    const bad = [{ rules: [{ event: 'x' }] }, { rules: [{ label: 'x', conditions: [{ property: 'a', operator: 'like', value: 1 }] }] }];
    for (const config of bad) {
      await expect(runChain([{ plugin, config }], [createEvent()])).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID' });
    }
  });
});

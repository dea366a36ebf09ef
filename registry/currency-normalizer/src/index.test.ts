import type { PluginAttachment } from '@plugline/sdk';
import { createEvent, createMeta, runChain } from '@plugline/sdk/testing';
import { describe, expect, it } from 'vitest';
import plugin, { parseRates } from './index.js';

const csv = (contents: string): PluginAttachment => ({ content_type: 'text/csv', file_name: 'rates.csv', contents });
const json = (value: unknown): PluginAttachment => ({ content_type: 'application/json', file_name: 'rates.json', contents: JSON.stringify(value) });

const ratesJson = json({ base: 'USD', rates: { EUR: 0.8, GBP: 0.5, JPY: 150 } });

const chainWith = (rates: PluginAttachment | undefined, config: Record<string, unknown> = {}) => ({
  plugin,
  name: 'currency-normalizer',
  version: '1.0.0',
  config,
  meta: createMeta<never, never>(rates ? { attachments: { rates } } : {}),
});

describe('currency-normalizer', () => {
  it('converts to the target currency and keeps the original amount and currency', async () => {
    const input = [
      createEvent({ event: 'purchase', properties: { amount: 100, currency: 'EUR', sku: 'a' } }),
      createEvent({ event: 'purchase', properties: { amount: '3000', currency: 'jpy' } }),
      createEvent({ event: 'purchase', properties: { amount: 10, currency: 'USD' } }),
    ];
    const { events, errors } = await runChain([chainWith(ratesJson)], input);
    expect(errors).toEqual([]);
    expect(events.map((event) => event.properties)).toEqual([
      { amount: 125, currency: 'USD', original_amount: 100, original_currency: 'EUR', sku: 'a' },
      { amount: 20, currency: 'USD', original_amount: '3000', original_currency: 'jpy' },
      { amount: 10, currency: 'USD', original_amount: 10, original_currency: 'USD' },
    ]);
  });

  it('converts across two non-base currencies with a CSV table, custom properties and rounding', async () => {
    const table = csv('# rates per 1 USD\ncurrency,rate\nEUR,0.8\r\nGBP;0.5\n\n"JPY",150\n');
    const config = { targetCurrency: 'GBP', amountProperty: 'price', currencyProperty: 'price_currency', decimals: 3 };
    const { events } = await runChain([chainWith(table, config)], [createEvent({ properties: { price: 10, price_currency: 'EUR' } })]);
    expect(events[0]?.properties).toMatchObject({ price: 6.25, price_currency: 'GBP' });
    const yen = await runChain([chainWith(table, config)], [createEvent({ properties: { price: 1, price_currency: 'JPY' } })]);
    expect(yen.events[0]?.properties.price).toBe(0.003);
  });

  it('fails the event with a clear error naming the currency that has no rate, and loses nothing', async () => {
    const event = createEvent({ properties: { amount: 5, currency: 'CHF' } });
    const { events, errors } = await runChain([chainWith(ratesJson)], [event]);
    expect(events).toEqual([event]);
    expect(errors.map((error) => error.message)).toEqual([
      'currency-normalizer@1.0.0 processEvent: no rate for currency "CHF" in the rates table (known: EUR, GBP, JPY, USD)',
    ]);
  });

  it('passes events without an amount or currency through, and rejects a non-numeric amount', async () => {
    const plain = createEvent({ properties: { amount: 5 } });
    const bad = createEvent({ properties: { amount: 'lots', currency: 'EUR' } });
    const { events, errors } = await runChain([chainWith(ratesJson)], [plain, bad]);
    expect(events).toEqual([plain, bad]);
    expect(errors.map((error) => error.message)).toEqual(['currency-normalizer@1.0.0 processEvent: property "amount" is not a number: "lots"']);
  });

  it('fails setup clearly without a rates attachment, and the events still flow', async () => {
    const event = createEvent({ properties: { amount: 5, currency: 'EUR' } });
    const { events, errors } = await runChain([chainWith(undefined)], [event]);
    expect(events).toEqual([event]);
    expect(errors[0]?.message).toBe('currency-normalizer@1.0.0 setupPlugin: no rates table: attach a JSON or CSV file to the config as "rates"');
  });

  it('reads flat JSON tables with a base key and uses baseCurrency for CSV', () => {
    expect([...parseRates(json({ base: 'EUR', USD: 1.25 }), 'USD').rates]).toEqual([
      ['USD', 1.25],
      ['EUR', 1],
    ]);
    expect(parseRates(csv('USD,1.1'), 'EUR').base).toBe('EUR');
  });

  it('rejects broken tables with the file and line named', () => {
    expect(() => parseRates(json({ rates: [] }), 'USD')).toThrow('rates.json: "rates" must be an object of currency: rate');
    expect(() => parseRates({ content_type: 'application/json', file_name: 'r.json', contents: '{oops' }, 'USD')).toThrow(/r\.json: not valid JSON/);
    expect(() => parseRates(csv('currency,rate\nEUR,0.8\nGBP,zero'), 'USD')).toThrow('rates.csv line 3: the rate of GBP must be a positive number, got "zero"');
    expect(() => parseRates(csv('EURO,0.8'), 'USD')).toThrow('rates.csv line 1: "EURO" is not a 3-letter currency code');
    expect(() => parseRates(csv('EUR,0.8,extra'), 'USD')).toThrow(/line 1: expected "currency,rate"/);
    expect(() => parseRates(json({ EUR: -1 }), 'USD')).toThrow(/must be a positive number/);
    expect(() => parseRates(csv('# nothing\n'), 'USD')).toThrow('rates.csv: the rates table is empty');
  });

  it('rejects a target that is not a currency code with ERR_CONFIG_INVALID', async () => {
    await expect(runChain([chainWith(ratesJson, { targetCurrency: 'usd' })], [createEvent()])).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID' });
  });
});

import { type PluginAttachment, definePlugin } from '@plugline/sdk';

/** A rates table: how many units of each currency one unit of the base currency buys. */
export interface RatesTable {
  base: string;
  rates: Map<string, number>;
}

const currencyCode = /^[A-Z]{3}$/;

function addRate(rates: Map<string, number>, currency: string, rate: unknown, where: string): void {
  const code = currency.trim().toUpperCase();
  if (!currencyCode.test(code)) throw new Error(`${where}: "${currency}" is not a 3-letter currency code`);
  const value = typeof rate === 'string' && rate.trim() !== '' ? Number(rate) : rate;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new Error(`${where}: the rate of ${code} must be a positive number, got ${JSON.stringify(rate)}`);
  }
  rates.set(code, value);
}

/**
 * Parses a rates table attachment. JSON: `{ "base": "USD", "rates": { "EUR": 0.92 } }` or a flat
 * `{ "EUR": 0.92 }`. CSV: `currency,rate` rows (`,` or `;`), an optional header row, `#` comments.
 * Rates are units of the currency per one unit of the base; the base itself is always 1.
 */
export function parseRates(attachment: PluginAttachment, defaultBase: string): RatesTable {
  const file = attachment.file_name || 'rates';
  const text = attachment.contents.replace(/^\uFEFF/, '');
  const rates = new Map<string, number>();
  let base = defaultBase.toUpperCase();
  const looksJson = attachment.content_type.includes('json') || /\.json$/i.test(file) || /^\s*[{[]/.test(text);
  if (looksJson) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new Error(`${file}: not valid JSON (${(error as Error).message})`);
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error(`${file}: must be a JSON object of rates`);
    const table = parsed as Record<string, unknown>;
    const nested = typeof table.rates === 'object' && table.rates !== null && !Array.isArray(table.rates);
    if ('rates' in table && !nested) throw new Error(`${file}: "rates" must be an object of currency: rate`);
    if (typeof table.base === 'string') base = table.base.toUpperCase();
    const entries = nested ? Object.entries(table.rates as Record<string, unknown>) : Object.entries(table).filter(([key]) => key !== 'base');
    for (const [currency, rate] of entries) addRate(rates, currency, rate, `${file} "${currency}"`);
  } else {
    let firstRow = true;
    for (const [index, raw] of text.split(/\r?\n/).entries()) {
      const line = raw.trim();
      if (line === '' || line.startsWith('#')) continue;
      const [currency = '', rate = '', ...rest] = line.split(/[,;]/).map((cell) => cell.trim().replace(/^"(.*)"$/, '$1'));
      // A first row whose rate is not a number is a header ("currency,rate").
      const header = firstRow && (rate === '' || Number.isNaN(Number(rate)));
      firstRow = false;
      if (header) continue;
      const where = `${file} line ${index + 1}`;
      if (rest.some((cell) => cell !== '')) throw new Error(`${where}: expected "currency,rate", got ${JSON.stringify(line)}`);
      addRate(rates, currency, rate, where);
    }
  }
  if (!currencyCode.test(base)) throw new Error(`${file}: base "${base}" is not a 3-letter currency code`);
  if (rates.size === 0) throw new Error(`${file}: the rates table is empty`);
  rates.set(base, 1);
  return { base, rates };
}

/** Converts an amount between two currencies of a table; throws naming the currency that has no rate. */
export function convert(table: RatesTable, amount: number, from: string, to: string): number {
  const missing = [from, to].find((currency) => !table.rates.has(currency));
  if (missing !== undefined) {
    throw new Error(`no rate for currency "${missing}" in the rates table (known: ${[...table.rates.keys()].sort().join(', ')})`);
  }
  return (amount / table.rates.get(from)!) * table.rates.get(to)!;
}

/**
 * Converts an amount property to a target currency, from a rates table attached to the config as
 * `rates` (JSON or CSV). The converted amount replaces the original; the original amount and currency
 * are kept in `original_amount` / `original_currency`. A currency with no rate is an error that names
 * it; the event then continues unchanged (the chain records the failure).
 */
export default definePlugin({
  config: {
    type: 'object',
    properties: {
      targetCurrency: {
        type: 'string',
        pattern: '^[A-Z]{3}$',
        default: 'USD',
        description: 'The ISO 4217 code to convert amounts to.',
      },
      amountProperty: { type: 'string', minLength: 1, default: 'amount', description: 'The property holding the amount.' },
      currencyProperty: { type: 'string', minLength: 1, default: 'currency', description: 'The property holding the currency code of the amount.' },
      baseCurrency: {
        type: 'string',
        pattern: '^[A-Z]{3}$',
        default: 'USD',
        description: 'The currency the rates are relative to, when the rates table does not say (CSV, or JSON without "base").',
      },
      decimals: { type: 'integer', minimum: 0, maximum: 12, default: 2, description: 'Decimal places the converted amount is rounded to.' },
    },
  },
  setupPlugin(meta) {
    const attachment = meta.attachments.rates;
    if (!attachment) throw new Error('no rates table: attach a JSON or CSV file to the config as "rates"');
    meta.global.table = parseRates(attachment, meta.config.baseCurrency);
  },
  processEvent(event, { config, global, metrics }) {
    const table = global.table as RatesTable | undefined;
    if (!table) throw new Error('no rates table loaded (see the setupPlugin error)');
    const rawAmount = event.properties[config.amountProperty];
    const rawCurrency = event.properties[config.currencyProperty];
    if (rawAmount === undefined || rawAmount === null || rawCurrency === undefined || rawCurrency === null) return event;
    const amount = typeof rawAmount === 'string' && rawAmount.trim() !== '' ? Number(rawAmount) : rawAmount;
    if (typeof amount !== 'number' || !Number.isFinite(amount)) {
      throw new Error(`property "${config.amountProperty}" is not a number: ${JSON.stringify(rawAmount)}`);
    }
    if (typeof rawCurrency !== 'string') throw new Error(`property "${config.currencyProperty}" is not a currency code: ${JSON.stringify(rawCurrency)}`);
    const from = rawCurrency.trim().toUpperCase();
    const factor = 10 ** config.decimals;
    const converted = Math.round(convert(table, amount, from, config.targetCurrency) * factor) / factor;
    event.properties.original_amount = rawAmount;
    event.properties.original_currency = rawCurrency;
    event.properties[config.amountProperty] = converted;
    event.properties[config.currencyProperty] = config.targetCurrency;
    metrics.increment('amounts_converted');
    return event;
  },
});

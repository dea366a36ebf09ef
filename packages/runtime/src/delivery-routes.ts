import { PluglineError } from '@plugline/sdk';
import express, { type Express } from 'express';
import type { Runtime } from './runtime.js';
import type { DeadLetterFilter } from './store.js';

/**
 * A dead-letter filter from query parameters or a JSON body: `plugin`, `hook`, `code` (strings) and
 * `from` / `to` (any date `Date` parses, normalised to ISO 8601; `to` is exclusive). `ERR_BAD_REQUEST`
 * for anything else.
 */
export function deadLetterFilterFrom(input: Record<string, unknown>): DeadLetterFilter {
  const filter: DeadLetterFilter = {};
  for (const key of ['plugin', 'hook', 'code'] as const) {
    const value = input[key];
    if (value === undefined) continue;
    if (typeof value !== 'string' || value === '') throw new PluglineError('ERR_BAD_REQUEST', `${key} must be a non-empty string`);
    filter[key] = value;
  }
  for (const key of ['from', 'to'] as const) {
    const value = input[key];
    if (value === undefined) continue;
    const date = typeof value === 'string' || typeof value === 'number' ? new Date(value) : undefined;
    if (!date || Number.isNaN(date.getTime())) throw new PluglineError('ERR_BAD_REQUEST', `${key} must be a date (ISO 8601 or ms since the epoch)`);
    filter[key] = date.toISOString();
  }
  return filter;
}

/**
 * The delivery routes: `POST /api/dead-letters/replay` (bulk re-drive by plugin, hook, code, time range,
 * or `{ "all": true }`) and `GET /api/delivery` (per plugin: buffered events, batches in retry with their
 * next attempt, pending retries, dead letters).
 */
export function mountDeliveryRoutes(app: Express, runtime: Runtime): void {
  app.post('/api/dead-letters/replay', express.json({ limit: '64kb' }), (req, res) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    if (typeof body !== 'object' || Array.isArray(body)) throw new PluglineError('ERR_BAD_REQUEST', 'The body must be a JSON object');
    const { all, ...rest } = body;
    const unknown = Object.keys(rest).filter((key) => !['plugin', 'hook', 'code', 'from', 'to'].includes(key));
    if (unknown.length > 0) throw new PluglineError('ERR_BAD_REQUEST', `Unknown filter ${unknown.join(', ')} (plugin, hook, code, from, to, all)`);
    if (all !== undefined && typeof all !== 'boolean') throw new PluglineError('ERR_BAD_REQUEST', 'all must be a boolean');
    const filter = deadLetterFilterFrom(rest);
    // Replaying everything takes an explicit { "all": true }, so an empty body never does it by accident.
    if (Object.keys(filter).length === 0 && all !== true) throw new PluglineError('ERR_BAD_REQUEST', 'Give a filter (plugin, hook, code, from, to) or { "all": true }');
    const replayed = runtime.replayDeadLetters(filter);
    res.status(202).json({ replayed: replayed.length, deadLetters: replayed });
  });

  app.get('/api/delivery', (_req, res) => {
    res.json({ plugins: runtime.deliveryProgress(), retries: runtime.store.pendingRetries().map(({ payload: _payload, ...retry }) => retry) });
  });
}

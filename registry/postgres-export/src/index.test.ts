import { isRetryError, type PluginPostgres } from '@plugline/sdk';
import { createEvent, createMeta, runChain } from '@plugline/sdk/testing';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import plugin, { ROWS_PER_INSERT, quoteTable } from './index.js';

// The machine's PostgreSQL (the runtime bridges meta.postgres to a real pool the same way).
const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const runId = `${process.pid}_${Date.now().toString(36)}`;
const tables: string[] = [];
const tableFor = (suffix: string) => {
  const name = `plugline_test_${runId}_${suffix}`;
  tables.push(name);
  return name;
};

const pools = new Map<string, pg.Pool>();
const hostPostgres: PluginPostgres = {
  async query(connectionString, text, values) {
    let pool = pools.get(connectionString);
    if (!pool) {
      pool = new pg.Pool({ connectionString, max: 2, connectionTimeoutMillis: 2000 });
      pool.on('error', () => {});
      pools.set(connectionString, pool);
    }
    const result = await pool.query(text, values as unknown[] | undefined);
    return { rows: result.rows, rowCount: result.rowCount ?? 0 };
  },
};
const admin = new pg.Pool({ connectionString: databaseUrl, max: 1 });

afterAll(async () => {
  for (const table of tables) await admin.query(`DROP TABLE IF EXISTS ${quoteTable(table)}`);
  await admin.end();
  await Promise.all([...pools.values()].map((pool) => pool.end()));
});

const metaWithPostgres = () => {
  const meta = createMeta<never, never>();
  meta.postgres = hostPostgres;
  return meta;
};

describe('postgres-export', () => {
  it('creates the table if missing and inserts the exported events', async () => {
    const table = tableFor('basic');
    const events = [
      createEvent({ event: 'signed_up', distinct_id: 'ada', ip: '8.8.8.8', team_id: 7, properties: { plan: 'pro', nested: { a: [1, 2] } }, $set: { plan: 'pro' } }),
      createEvent({ event: '$pageview', distinct_id: 'bob', timestamp: '2026-03-04T05:06:07.089Z' }),
    ];
    const { errors, metas } = await runChain(
      [{ plugin, name: 'postgres-export', config: { connectionString: databaseUrl, tableName: table }, meta: metaWithPostgres() }],
      events,
    );
    expect(errors).toEqual([]);
    const { rows } = await admin.query(`SELECT * FROM ${quoteTable(table)} ORDER BY distinct_id`);
    expect(rows).toHaveLength(2);
    expect(rows[0]).toMatchObject({
      uuid: events[0]?.uuid,
      event: 'signed_up',
      distinct_id: 'ada',
      properties: { plan: 'pro', nested: { a: [1, 2] } },
      ip: '8.8.8.8',
      team_id: 7,
      set: { plan: 'pro' },
      set_once: null,
    });
    expect((rows[1].timestamp as Date).toISOString()).toBe('2026-03-04T05:06:07.089Z');
    expect(metas.get('postgres-export')?.metricValues.get('events_exported')).toBe(2);
  });

  it('does not duplicate rows when a batch is retried', async () => {
    const table = tableFor('retry');
    const events = [createEvent({ event: 'a' }), createEvent({ event: 'b' })];
    const entry = () => ({ plugin, config: { connectionString: databaseUrl, tableName: table }, meta: metaWithPostgres() });
    await runChain([entry()], events);
    const again = await runChain([entry()], [...events, createEvent({ event: 'c' })]);
    expect(again.errors).toEqual([]);
    const { rows } = await admin.query(`SELECT event FROM ${quoteTable(table)} ORDER BY event`);
    expect(rows.map((row) => row.event)).toEqual(['a', 'b', 'c']);
  });

  it('splits large batches into several INSERT statements', async () => {
    const table = tableFor('large');
    const events = Array.from({ length: ROWS_PER_INSERT + 5 }, (_, index) => createEvent({ event: `e${index}` }));
    const { errors } = await runChain([{ plugin, config: { connectionString: databaseUrl, tableName: table }, meta: metaWithPostgres() }], events);
    expect(errors).toEqual([]);
    const { rows } = await admin.query(`SELECT count(*)::int AS n FROM ${quoteTable(table)}`);
    expect(rows[0].n).toBe(ROWS_PER_INSERT + 5);
  });

  it('asks for a retry when the database cannot be reached', async () => {
    const meta = metaWithPostgres();
    meta.config = { connectionString: 'postgres://postgres@127.0.0.1:1/test', tableName: tableFor('down') } as never;
    const attempt = plugin.exportEvents!([createEvent()], meta as never);
    await expect(attempt).rejects.toSatisfy(isRetryError);
    await expect(attempt).rejects.toThrow(/PostgreSQL: .*ECONNREFUSED/);
  });

  it('fails permanently on an SQL error such as a table with other columns', async () => {
    const table = tableFor('conflict');
    await admin.query(`CREATE TABLE ${quoteTable(table)} (id serial PRIMARY KEY)`);
    const meta = metaWithPostgres();
    meta.config = { connectionString: databaseUrl, tableName: table } as never;
    const attempt = plugin.exportEvents!([createEvent()], meta as never);
    await expect(attempt).rejects.toThrow(/PostgreSQL: column "uuid" of relation .* does not exist/);
    await expect(attempt).rejects.not.toSatisfy(isRetryError);
  });

  it('says what is missing when the runtime gives no postgres bridge', async () => {
    const { errors } = await runChain([{ plugin, name: 'pg', version: '1.0.0', config: { connectionString: databaseUrl, tableName: tableFor('nobridge') } }], [createEvent()]);
    expect(errors.map((error) => error.message)).toEqual([
      'pg@1.0.0 setupPlugin: meta.postgres is missing: the manifest must declare capabilities: ["postgres"]',
      'pg@1.0.0 exportEvents: meta.postgres is missing: the manifest must declare capabilities: ["postgres"]',
    ]);
  });

  it('rejects unsafe table names and non-postgres URLs with ERR_CONFIG_INVALID', async () => {
    for (const config of [
      { connectionString: databaseUrl, tableName: 'events; DROP TABLE users' },
      { connectionString: databaseUrl, tableName: 'a.b.c' },
      { connectionString: 'mysql://x' },
    ]) {
      await expect(runChain([{ plugin, config }], [createEvent()])).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID' });
    }
  });

  it('quotes schema-qualified names', () => {
    expect(quoteTable('analytics.events')).toBe('"analytics"."events"');
  });
});

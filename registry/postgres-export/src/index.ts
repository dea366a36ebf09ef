import { type JsonValue, type PluginEvent, type PluginPostgres, RetryError, definePlugin } from '@plugline/sdk';

/** Columns of the events table, in insert order. */
export const columns = ['uuid', 'event', 'distinct_id', 'properties', 'timestamp', 'ip', 'team_id', 'set', 'set_once'] as const;

/** Rows per INSERT statement (9 parameters each; PostgreSQL allows 65535 per statement). */
export const ROWS_PER_INSERT = 1000;

/** Quotes a possibly schema-qualified identifier (`analytics.events` -> `"analytics"."events"`). */
export function quoteTable(name: string): string {
  return name
    .split('.')
    .map((part) => `"${part.replace(/"/g, '""')}"`)
    .join('.');
}

/** The `CREATE TABLE IF NOT EXISTS` statement for the events table. */
export function createTableSql(table: string): string {
  return `CREATE TABLE IF NOT EXISTS ${quoteTable(table)} (
    uuid text PRIMARY KEY,
    event text NOT NULL,
    distinct_id text NOT NULL,
    properties jsonb NOT NULL,
    "timestamp" timestamptz NOT NULL,
    ip text,
    team_id integer,
    "set" jsonb,
    set_once jsonb,
    exported_at timestamptz NOT NULL DEFAULT now()
  )`;
}

/** One multi-row INSERT for a chunk of events; a uuid already in the table is skipped, so retries are idempotent. */
export function insertStatement(table: string, events: readonly PluginEvent[]): { text: string; values: JsonValue[] } {
  const values: JsonValue[] = [];
  const rows = events.map((event) => {
    const base = values.length;
    values.push(
      event.uuid,
      event.event,
      event.distinct_id,
      JSON.stringify(event.properties),
      event.timestamp,
      event.ip ?? null,
      event.team_id ?? null,
      event.$set === undefined ? null : JSON.stringify(event.$set),
      event.$set_once === undefined ? null : JSON.stringify(event.$set_once),
    );
    const p = (offset: number) => `$${base + offset}`;
    return `(${p(1)}, ${p(2)}, ${p(3)}, ${p(4)}::jsonb, ${p(5)}::timestamptz, ${p(6)}, ${p(7)}::integer, ${p(8)}::jsonb, ${p(9)}::jsonb)`;
  });
  const names = columns.map((column) => `"${column}"`).join(', ');
  return { text: `INSERT INTO ${quoteTable(table)} (${names}) VALUES ${rows.join(', ')} ON CONFLICT (uuid) DO NOTHING`, values };
}

// SQLSTATE classes that say "try again later": connection exceptions, insufficient resources, operator
// intervention (server shutting down), serialization failures and deadlocks.
const transientSqlState = /^(08|53|57P0|40001|40P01)/;
const transientNetworkCode = /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH)$/;

/** Is a database error worth retrying? Judged by its SQLSTATE or network error code. */
export function isTransient(error: unknown): boolean {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  if (typeof code === 'string') return transientSqlState.test(code) || transientNetworkCode.test(code);
  return /ECONNREFUSED|ECONNRESET|ETIMEDOUT|terminat|Connection/i.test(error instanceof Error ? error.message : String(error));
}

async function run(postgres: PluginPostgres, connectionString: string, text: string, values?: JsonValue[]): Promise<void> {
  try {
    await postgres.query(connectionString, text, values);
  } catch (error) {
    const message = `PostgreSQL: ${error instanceof Error ? error.message : String(error)}`;
    throw isTransient(error) ? new RetryError(message) : new Error(message);
  }
}

function requirePostgres(postgres: PluginPostgres | undefined): PluginPostgres {
  if (!postgres) throw new Error('meta.postgres is missing: the manifest must declare capabilities: ["postgres"]');
  return postgres;
}

/**
 * Inserts each batch of stored events into a PostgreSQL table, created if missing. SQL goes through
 * the host (`meta.postgres`, the `postgres` capability), since sandboxed code has no sockets. Inserts
 * skip uuids already stored, so a retried batch never duplicates rows; connection problems throw
 * `RetryError` (retried with backoff), SQL errors such as missing permissions are permanent.
 */
export default definePlugin({
  config: {
    type: 'object',
    required: ['connectionString'],
    properties: {
      connectionString: {
        type: 'string',
        pattern: '^postgres(ql)?://',
        writeOnly: true,
        description: 'postgres://user:password@host:5432/database. Never shown after it is set.',
      },
      tableName: {
        type: 'string',
        pattern: '^([A-Za-z_][A-Za-z0-9_$]{0,62}\\.)?[A-Za-z_][A-Za-z0-9_$]{0,62}$',
        default: 'plugline_events',
        description: 'The table the events go to (optionally schema-qualified); created if missing.',
      },
    },
  },
  async setupPlugin({ config, global, postgres }) {
    await run(requirePostgres(postgres), config.connectionString, createTableSql(config.tableName));
    global.tableReady = true;
  },
  async exportEvents(events, { config, global, metrics, postgres }) {
    const db = requirePostgres(postgres);
    // Setup may have failed while the database was down; make sure the table exists before inserting.
    if (!global.tableReady) {
      await run(db, config.connectionString, createTableSql(config.tableName));
      global.tableReady = true;
    }
    for (let start = 0; start < events.length; start += ROWS_PER_INSERT) {
      const { text, values } = insertStatement(config.tableName, events.slice(start, start + ROWS_PER_INSERT));
      await run(db, config.connectionString, text, values);
    }
    metrics.increment('events_exported', events.length);
  },
});

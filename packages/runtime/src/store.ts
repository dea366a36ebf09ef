import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';
import type { JsonValue, PluginEvent } from '@plugline/sdk';

/** Filters of {@link RuntimeStore.queryEvents}. */
export interface EventQuery {
  event?: string;
  distinct_id?: string;
  /** At most this many events (default 100, max 10 000). */
  limit?: number;
  /** By ingestion order: `desc` (newest first, default) or `asc`. */
  order?: 'asc' | 'desc';
  /**
   * Characters of JSON the answer may hold (default 32 MiB): rows stop there, at least one event
   * always comes back, and the page says it was cut (`truncated`). 10 000 events of 1 MiB would be 10 GB.
   */
  maxBytes?: number;
}

/** What {@link RuntimeStore.queryEventPage} answers. */
export interface EventPage {
  events: PluginEvent[];
  /** Rows stopped at `maxBytes` before `limit`: ask again with a smaller limit or a filter. */
  truncated: boolean;
}

/** Default of {@link EventQuery.maxBytes}. */
export const defaultEventAnswerBytes = 32 * 1024 * 1024;

/** A batch waiting for (or between) export attempts. */
export interface ExportBatch {
  id: number;
  plugin: string;
  events: PluginEvent[];
  attempts: number;
  nextAttemptAt: number;
  lastError: string | null;
  /** When its first attempt failed (ms since the epoch), null before that: the retry window starts there. */
  firstFailedAt: number | null;
}

/** A durable retry of a hook other than `exportEvents` (an `onEvent` `RetryError`, ...): see `DurableRetries`. */
export interface PendingRetry {
  id: number;
  plugin: string;
  /** What is retried, e.g. `onEvent`; the handler registered under this kind runs it. */
  kind: string;
  payload: JsonValue;
  attempts: number;
  nextAttemptAt: number;
  firstFailedAt: number;
  lastError: string | null;
}

/** Which dead letters a list or a bulk replay covers (all when empty). */
export interface DeadLetterFilter {
  plugin?: string;
  /** `exportEvents`, `onEvent`, ... */
  hook?: string;
  /** Dead-lettered at or after this time (ISO 8601). */
  from?: string;
  /** Dead-lettered before this time (ISO 8601). */
  to?: string;
  /** Only dead letters with this code (e.g. `ERR_EXPORT_RETRY_EXHAUSTED`). */
  code?: string;
}

/** Per plugin: what is waiting to be delivered (`GET /api/plugins`, the delivery gauges). */
export interface DeliveryProgress {
  plugin: string;
  /** Events in the export buffer, not yet cut into a batch. */
  bufferedEvents: number;
  bufferedBytes: number;
  /** Export batches not yet delivered (due now or waiting for a retry). */
  pendingBatches: number;
  /** Export batches that failed at least once and wait for their next attempt. */
  batchesInRetry: number;
  /** The earliest next attempt of those, ms since the epoch (null when none). */
  nextBatchAttemptAt: number | null;
  /** Durable retries of other hooks (`onEvent` `RetryError`, ...). */
  pendingRetries: number;
  nextRetryAt: number | null;
  deadLetters: number;
}

/** A batch that failed for good, kept so that it can be replayed. */
export interface DeadLetter {
  id: number;
  plugin: string;
  version: string;
  hook: string;
  reason: string;
  code: string;
  attempts: number;
  eventCount: number;
  events: PluginEvent[];
  createdAt: string;
}

/**
 * The runtime's embedded, durable state in one SQLite database (`node:sqlite`, WAL): stored events
 * (deduplicated by uuid), plugin storage, export buffers, batches in retry and dead letters. An event
 * and its export-buffer entries are written in one transaction, so a crash loses neither.
 */
export class RuntimeStore {
  private readonly db: DatabaseSync;
  private readonly statements: Record<string, StatementSync> = {};

  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true });
    this.db = new DatabaseSync(join(dataDir, 'runtime.sqlite'));
    this.db.exec(`
      PRAGMA journal_mode = WAL;
      PRAGMA synchronous = NORMAL;
      PRAGMA busy_timeout = 5000;
      CREATE TABLE IF NOT EXISTS events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        uuid TEXT NOT NULL UNIQUE,
        event TEXT NOT NULL,
        distinct_id TEXT NOT NULL,
        timestamp TEXT NOT NULL,
        data TEXT NOT NULL,
        stored_at INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS events_event ON events (event, seq);
      CREATE INDEX IF NOT EXISTS events_distinct_id ON events (distinct_id, seq);
      CREATE TABLE IF NOT EXISTS plugin_storage (
        plugin TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, PRIMARY KEY (plugin, key)
      );
      CREATE TABLE IF NOT EXISTS export_buffer (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        plugin TEXT NOT NULL, data TEXT NOT NULL, bytes INTEGER NOT NULL, enqueued_at INTEGER NOT NULL
      );
      CREATE INDEX IF NOT EXISTS export_buffer_plugin ON export_buffer (plugin, id);
      CREATE TABLE IF NOT EXISTS export_batches (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        plugin TEXT NOT NULL, data TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_at INTEGER NOT NULL, last_error TEXT
      );
      CREATE TABLE IF NOT EXISTS jobs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        plugin TEXT NOT NULL, name TEXT NOT NULL, payload TEXT NOT NULL, run_at INTEGER NOT NULL, attempts INTEGER NOT NULL DEFAULT 0
      );
      CREATE INDEX IF NOT EXISTS jobs_due ON jobs (plugin, run_at);
      CREATE TABLE IF NOT EXISTS dead_letters (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        plugin TEXT NOT NULL, version TEXT NOT NULL, hook TEXT NOT NULL, reason TEXT NOT NULL, code TEXT NOT NULL,
        attempts INTEGER NOT NULL, event_count INTEGER NOT NULL, data TEXT NOT NULL, created_at TEXT NOT NULL
      );
      CREATE INDEX IF NOT EXISTS dead_letters_plugin ON dead_letters (plugin, id);
      CREATE TABLE IF NOT EXISTS retries (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        plugin TEXT NOT NULL, kind TEXT NOT NULL, data TEXT NOT NULL, attempts INTEGER NOT NULL,
        next_attempt_at INTEGER NOT NULL, first_failed_at INTEGER NOT NULL, last_error TEXT
      );
      CREATE INDEX IF NOT EXISTS retries_due ON retries (plugin, next_attempt_at);
    `);
    // Stores from before the retry window: when a batch first failed (null: not yet).
    const columns = (this.db.prepare('PRAGMA table_info(export_batches)').all() as { name: string }[]).map((column) => column.name);
    if (!columns.includes('first_failed_at')) {
      try {
        this.db.exec('ALTER TABLE export_batches ADD COLUMN first_failed_at INTEGER');
      } catch (error) {
        // Another process sharing the store added it first.
        if (!/duplicate column/i.test((error as Error).message)) throw error;
      }
    }
  }

  private statement(sql: string): StatementSync {
    let statement = this.statements[sql];
    if (!statement) {
      statement = this.db.prepare(sql);
      this.statements[sql] = statement;
    }
    return statement;
  }

  private transaction<T>(work: () => T): T {
    this.db.exec('BEGIN IMMEDIATE');
    try {
      const result = work();
      this.db.exec('COMMIT');
      return result;
    } catch (error) {
      this.db.exec('ROLLBACK');
      throw error;
    }
  }

  /**
   * Stores events (a uuid already stored is skipped) and, in the same transaction, appends each new
   * event to the export buffer of every plugin in `exportTo` (except event names it ignores), and
   * records each delivery of `firstRuns` (`onEvent` of a plugin) as a retry row of its kind holding the
   * new events' uuids (`{ stored: [...] }`, see {@link storedEvents}), due at `dueAt`: the caller runs
   * the first attempt at once and settles the row (durable-retry.ts `runFirst`); if the process dies
   * first, the row is retried like any other. Returns the events that were new and each delivery's row
   * id, keyed `<plugin>\0<kind>`.
   */
  storeEvents(
    events: readonly PluginEvent[],
    exportTo: readonly { plugin: string; ignore?: ReadonlySet<string> }[],
    firstRuns: readonly { plugin: string; kind: string; dueAt: number }[] = [],
  ): { stored: PluginEvent[]; runs: Map<string, number> } {
    const runs = new Map<string, number>();
    if (events.length === 0) return { stored: [], runs };
    const insert = this.statement('INSERT OR IGNORE INTO events (uuid, event, distinct_id, timestamp, data, stored_at) VALUES (?, ?, ?, ?, ?, ?)');
    const enqueue = this.statement('INSERT INTO export_buffer (plugin, data, bytes, enqueued_at) VALUES (?, ?, ?, ?)');
    return this.transaction(() => {
      const now = Date.now();
      const stored: PluginEvent[] = [];
      for (const event of events) {
        const data = JSON.stringify(event);
        const { changes } = insert.run(event.uuid, event.event, event.distinct_id, event.timestamp, data, now);
        if (Number(changes) === 0) continue;
        stored.push(event);
        const bytes = Buffer.byteLength(data);
        for (const target of exportTo) if (!target.ignore?.has(event.event)) enqueue.run(target.plugin, data, bytes, now);
      }
      if (stored.length > 0) {
        const uuids: JsonValue = { stored: stored.map((event) => event.uuid) };
        for (const run of firstRuns) {
          runs.set(`${run.plugin}\0${run.kind}`, this.enqueueRetry({ plugin: run.plugin, kind: run.kind, payload: uuids, attempts: 0, nextAttemptAt: run.dueAt, firstFailedAt: now, lastError: 'first attempt pending' }));
        }
      }
      return { stored, runs };
    });
  }

  /** The stored events of these uuids, in that order (those no longer stored are left out). */
  storedEvents(uuids: readonly string[]): PluginEvent[] {
    const select = this.statement('SELECT data FROM events WHERE uuid = ?');
    return uuids.flatMap((uuid) => {
      const row = select.get(uuid) as { data: string } | undefined;
      return row ? [JSON.parse(row.data) as PluginEvent] : [];
    });
  }

  /** Stored events, newest first unless `order: 'asc'`. */
  queryEvents(query: EventQuery = {}): PluginEvent[] {
    return this.queryEventPage(query).events;
  }

  /** Like {@link queryEvents}, saying whether the answer stopped at `maxBytes` (rows are read one at a time). */
  queryEventPage(query: EventQuery = {}): EventPage {
    const where: string[] = [];
    const values: string[] = [];
    if (query.event !== undefined) {
      where.push('event = ?');
      values.push(query.event);
    }
    if (query.distinct_id !== undefined) {
      where.push('distinct_id = ?');
      values.push(query.distinct_id);
    }
    const limit = Math.min(10_000, Math.max(1, Math.trunc(query.limit ?? 100)));
    const sql = `SELECT data FROM events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq ${query.order === 'asc' ? 'ASC' : 'DESC'} LIMIT ${limit}`;
    const maxBytes = query.maxBytes ?? defaultEventAnswerBytes;
    const events: PluginEvent[] = [];
    let bytes = 0;
    for (const row of this.statement(sql).iterate(...values) as Iterable<{ data: string }>) {
      if (events.length > 0 && bytes + row.data.length > maxBytes) return { events, truncated: true };
      bytes += row.data.length;
      events.push(JSON.parse(row.data) as PluginEvent);
    }
    return { events, truncated: false };
  }

  /** The stored event with this uuid, or `undefined`. */
  eventByUuid(uuid: string): PluginEvent | undefined {
    const row = this.statement('SELECT data FROM events WHERE uuid = ?').get(uuid) as { data: string } | undefined;
    return row ? (JSON.parse(row.data) as PluginEvent) : undefined;
  }

  /** How many events are stored. */
  countEvents(): number {
    return Number((this.statement('SELECT COUNT(*) AS n FROM events').get() as { n: number }).n);
  }

  // --- plugin storage

  storageGet(plugin: string, key: string): JsonValue | null {
    const row = this.statement('SELECT value FROM plugin_storage WHERE plugin = ? AND key = ?').get(plugin, key) as { value: string } | undefined;
    return row ? (JSON.parse(row.value) as JsonValue) : null;
  }
  storageSet(plugin: string, key: string, value: JsonValue): void {
    this.statement('INSERT INTO plugin_storage (plugin, key, value) VALUES (?, ?, ?) ON CONFLICT (plugin, key) DO UPDATE SET value = excluded.value').run(
      plugin,
      key,
      JSON.stringify(value),
    );
  }
  storageDel(plugin: string, key: string): void {
    this.statement('DELETE FROM plugin_storage WHERE plugin = ? AND key = ?').run(plugin, key);
  }

  /** Sets a numeric storage key only when it is absent. */
  cursorInit(plugin: string, key: string, initial: number): void {
    this.statement('INSERT OR IGNORE INTO plugin_storage (plugin, key, value) VALUES (?, ?, ?)').run(plugin, key, JSON.stringify(initial));
  }

  /** Adds to a numeric storage key (0 when absent) atomically; returns the new value. */
  cursorIncrement(plugin: string, key: string, by: number): number {
    return this.transaction(() => {
      const next = (Number(this.storageGet(plugin, key)) || 0) + by;
      this.storageSet(plugin, key, next);
      return next;
    });
  }

  // --- PostHog jobs

  enqueueJob(plugin: string, name: string, payload: JsonValue, runAt: number): number {
    const { lastInsertRowid } = this.statement('INSERT INTO jobs (plugin, name, payload, run_at) VALUES (?, ?, ?, ?)').run(plugin, name, JSON.stringify(payload), runAt);
    return Number(lastInsertRowid);
  }

  /** Due jobs of a plugin, oldest first. */
  dueJobs(plugin: string, now = Date.now(), limit = 100): { id: number; name: string; payload: JsonValue; attempts: number }[] {
    return (this.statement('SELECT id, name, payload, attempts FROM jobs WHERE plugin = ? AND run_at <= ? ORDER BY run_at, id LIMIT ?').all(plugin, now, limit) as {
      id: number;
      name: string;
      payload: string;
      attempts: number;
    }[]).map((row) => ({ id: Number(row.id), name: row.name, payload: JSON.parse(row.payload) as JsonValue, attempts: Number(row.attempts) }));
  }

  jobDone(id: number): void {
    this.statement('DELETE FROM jobs WHERE id = ?').run(id);
  }

  // --- export buffers

  /** Count, bytes and age (ms since the oldest entry) of a plugin's export buffer. */
  bufferStats(plugin: string): { count: number; bytes: number; oldest: number | null } {
    const row = this.statement('SELECT COUNT(*) AS count, COALESCE(SUM(bytes), 0) AS bytes, MIN(enqueued_at) AS oldest FROM export_buffer WHERE plugin = ?').get(plugin) as {
      count: number;
      bytes: number;
      oldest: number | null;
    };
    return { count: Number(row.count), bytes: Number(row.bytes), oldest: row.oldest === null ? null : Number(row.oldest) };
  }

  /**
   * Moves up to `maxCount` events / `maxBytes` bytes (at least one event) from a plugin's buffer into
   * a new export batch, atomically. Returns the batch id, or undefined when the buffer is empty.
   */
  cutBatch(plugin: string, maxCount: number, maxBytes: number): number | undefined {
    return this.transaction(() => {
      const rows = this.statement('SELECT id, data, bytes FROM export_buffer WHERE plugin = ? ORDER BY id LIMIT ?').all(plugin, maxCount) as {
        id: number;
        data: string;
        bytes: number;
      }[];
      if (rows.length === 0) return undefined;
      const taken: typeof rows = [];
      let bytes = 0;
      for (const row of rows) {
        if (taken.length > 0 && bytes + Number(row.bytes) > maxBytes) break;
        taken.push(row);
        bytes += Number(row.bytes);
      }
      const data = `[${taken.map((row) => row.data).join(',')}]`;
      const { lastInsertRowid } = this.statement('INSERT INTO export_batches (plugin, data, attempts, next_attempt_at) VALUES (?, ?, 0, ?)').run(plugin, data, Date.now());
      const last = taken[taken.length - 1]!;
      this.statement('DELETE FROM export_buffer WHERE plugin = ? AND id <= ?').run(plugin, last.id);
      return Number(lastInsertRowid);
    });
  }

  /** Whether the plugin has a durable retry due now (a cheap check for the tick). */
  hasDueRetry(plugin: string, now = Date.now()): boolean {
    return this.statement('SELECT 1 FROM retries WHERE plugin = ? AND next_attempt_at <= ? LIMIT 1').get(plugin, now) !== undefined;
  }

  /** The next batch of a plugin whose attempt is due, if any. */
  dueBatch(plugin: string, now = Date.now()): ExportBatch | undefined {
    const row = this.statement('SELECT * FROM export_batches WHERE plugin = ? AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT 1').get(plugin, now) as
      | { id: number; plugin: string; data: string; attempts: number; next_attempt_at: number; last_error: string | null; first_failed_at: number | null }
      | undefined;
    if (!row) return undefined;
    return {
      id: Number(row.id),
      plugin: row.plugin,
      events: JSON.parse(row.data) as PluginEvent[],
      attempts: Number(row.attempts),
      nextAttemptAt: Number(row.next_attempt_at),
      lastError: row.last_error,
      firstFailedAt: row.first_failed_at === null ? null : Number(row.first_failed_at),
    };
  }

  /** Batches (any plugin) still to be exported, with their attempts so far. */
  pendingBatches(plugin?: string): { id: number; plugin: string; attempts: number; nextAttemptAt: number; lastError: string | null }[] {
    const sql = `SELECT id, plugin, attempts, next_attempt_at, last_error FROM export_batches ${plugin ? 'WHERE plugin = ?' : ''} ORDER BY id`;
    return (this.statement(sql).all(...(plugin ? [plugin] : [])) as { id: number; plugin: string; attempts: number; next_attempt_at: number; last_error: string | null }[]).map(
      (row) => ({ id: Number(row.id), plugin: row.plugin, attempts: Number(row.attempts), nextAttemptAt: Number(row.next_attempt_at), lastError: row.last_error }),
    );
  }

  batchSucceeded(id: number): void {
    this.statement('DELETE FROM export_batches WHERE id = ?').run(id);
  }

  /** Schedules the next attempt of a batch; the first failure's time is kept (the retry window starts there). */
  batchRetryLater(id: number, attempts: number, nextAttemptAt: number, error: string, failedAt = Date.now()): void {
    this.statement('UPDATE export_batches SET attempts = ?, next_attempt_at = ?, last_error = ?, first_failed_at = COALESCE(first_failed_at, ?) WHERE id = ?').run(
      attempts,
      nextAttemptAt,
      error,
      failedAt,
      id,
    );
  }

  /**
   * Makes every batch of a plugin that waits for a retry due now (its attempts and window stay): what
   * the runtime does once an export of that plugin succeeded again. Returns how many.
   */
  retryBatchesNow(plugin: string, now = Date.now()): number {
    return Number(this.statement('UPDATE export_batches SET next_attempt_at = ? WHERE plugin = ? AND attempts > 0 AND next_attempt_at > ?').run(now, plugin, now).changes);
  }

  // --- durable retries of other hooks (onEvent RetryError, ...)

  /** Records a failed delivery to retry later; returns its id. */
  enqueueRetry(retry: { plugin: string; kind: string; payload: JsonValue; attempts: number; nextAttemptAt: number; firstFailedAt: number; lastError: string }): number {
    const { lastInsertRowid } = this.statement(
      'INSERT INTO retries (plugin, kind, data, attempts, next_attempt_at, first_failed_at, last_error) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ).run(retry.plugin, retry.kind, JSON.stringify(retry.payload), retry.attempts, retry.nextAttemptAt, retry.firstFailedAt, retry.lastError);
    return Number(lastInsertRowid);
  }

  /** Replaces a job by a retry (one transaction: a crash keeps one or the other); returns the retry's id. */
  jobToRetry(jobId: number, retry: Parameters<RuntimeStore['enqueueRetry']>[0]): number {
    return this.transaction(() => {
      this.statement('DELETE FROM jobs WHERE id = ?').run(jobId);
      return this.enqueueRetry(retry);
    });
  }

  /** The next due retry of a plugin (oldest schedule first), if any. */
  dueRetry(plugin: string, now = Date.now()): PendingRetry | undefined {
    const row = this.statement('SELECT * FROM retries WHERE plugin = ? AND next_attempt_at <= ? ORDER BY next_attempt_at, id LIMIT 1').get(plugin, now) as RetryRow | undefined;
    return row ? retryFromRow(row) : undefined;
  }

  /** Pending retries (any plugin, or one), with their schedule. */
  pendingRetries(plugin?: string): PendingRetry[] {
    const sql = `SELECT * FROM retries ${plugin ? 'WHERE plugin = ?' : ''} ORDER BY id`;
    return (this.statement(sql).all(...(plugin ? [plugin] : [])) as unknown as RetryRow[]).map(retryFromRow);
  }

  retryDone(id: number): void {
    this.statement('DELETE FROM retries WHERE id = ?').run(id);
  }

  /** Schedules the next attempt of a retry; `payload` replaces what is retried (e.g. only the events that failed again). */
  retryLater(id: number, attempts: number, nextAttemptAt: number, error: string, payload?: JsonValue): void {
    if (payload === undefined) this.statement('UPDATE retries SET attempts = ?, next_attempt_at = ?, last_error = ? WHERE id = ?').run(attempts, nextAttemptAt, error, id);
    else this.statement('UPDATE retries SET attempts = ?, next_attempt_at = ?, last_error = ?, data = ? WHERE id = ?').run(attempts, nextAttemptAt, error, JSON.stringify(payload), id);
  }

  /** Moves a retry to the dead-letter store (hook = its kind), atomically; `payload` replaces what is kept. Returns the dead letter's id. */
  retryToDeadLetter(id: number, failure: { version: string; reason: string; code: string; attempts: number }, payload?: JsonValue): number {
    return this.transaction(() => {
      const row = this.statement('SELECT plugin, kind, data FROM retries WHERE id = ?').get(id) as { plugin: string; kind: string; data: string } | undefined;
      if (!row) throw new Error(`no retry ${id}`);
      const data = payload === undefined ? row.data : JSON.stringify(payload);
      const parsed = JSON.parse(data) as unknown;
      const { lastInsertRowid } = this.statement(
        'INSERT INTO dead_letters (plugin, version, hook, reason, code, attempts, event_count, data, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ).run(row.plugin, failure.version, row.kind, failure.reason, failure.code, failure.attempts, Array.isArray(parsed) ? parsed.length : 1, data, new Date().toISOString());
      this.statement('DELETE FROM retries WHERE id = ?').run(id);
      return Number(lastInsertRowid);
    });
  }

  // --- progress

  /** Per plugin with anything buffered, pending or dead-lettered (or every plugin named in `plugins`). */
  deliveryProgress(plugins: readonly string[] = [], now = Date.now()): DeliveryProgress[] {
    const progress = new Map<string, DeliveryProgress>();
    const of = (plugin: string): DeliveryProgress => {
      let entry = progress.get(plugin);
      if (!entry) {
        entry = { plugin, bufferedEvents: 0, bufferedBytes: 0, pendingBatches: 0, batchesInRetry: 0, nextBatchAttemptAt: null, pendingRetries: 0, nextRetryAt: null, deadLetters: 0 };
        progress.set(plugin, entry);
      }
      return entry;
    };
    for (const plugin of plugins) of(plugin);
    type Row = Record<string, string | number | null>;
    for (const row of this.statement('SELECT plugin, COUNT(*) AS n, COALESCE(SUM(bytes), 0) AS bytes FROM export_buffer GROUP BY plugin').all() as Row[]) {
      const entry = of(String(row.plugin));
      entry.bufferedEvents = Number(row.n);
      entry.bufferedBytes = Number(row.bytes);
    }
    for (const row of this.statement(
      'SELECT plugin, COUNT(*) AS n, SUM(attempts > 0) AS retrying, MIN(CASE WHEN attempts > 0 THEN next_attempt_at END) AS next FROM export_batches GROUP BY plugin',
    ).all() as Row[]) {
      const entry = of(String(row.plugin));
      entry.pendingBatches = Number(row.n);
      entry.batchesInRetry = Number(row.retrying ?? 0);
      entry.nextBatchAttemptAt = row.next === null ? null : Math.max(now, Number(row.next));
    }
    for (const row of this.statement('SELECT plugin, COUNT(*) AS n, MIN(next_attempt_at) AS next FROM retries GROUP BY plugin').all() as Row[]) {
      const entry = of(String(row.plugin));
      entry.pendingRetries = Number(row.n);
      entry.nextRetryAt = row.next === null ? null : Math.max(now, Number(row.next));
    }
    for (const row of this.statement('SELECT plugin, COUNT(*) AS n FROM dead_letters GROUP BY plugin').all() as Row[]) of(String(row.plugin)).deadLetters = Number(row.n);
    return [...progress.values()].sort((a, b) => a.plugin.localeCompare(b.plugin));
  }

  /** Moves a batch to the dead-letter store, atomically. Returns the dead letter's id. */
  batchToDeadLetter(id: number, failure: { version: string; hook: string; reason: string; code: string; attempts: number }): number {
    return this.transaction(() => {
      const row = this.statement('SELECT plugin, data FROM export_batches WHERE id = ?').get(id) as { plugin: string; data: string } | undefined;
      if (!row) throw new Error(`no export batch ${id}`);
      const count = (JSON.parse(row.data) as unknown[]).length;
      const { lastInsertRowid } = this.statement(
        'INSERT INTO dead_letters (plugin, version, hook, reason, code, attempts, event_count, data, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ).run(row.plugin, failure.version, failure.hook, failure.reason, failure.code, failure.attempts, count, row.data, new Date().toISOString());
      this.statement('DELETE FROM export_batches WHERE id = ?').run(id);
      return Number(lastInsertRowid);
    });
  }

  /** Dead letters, oldest first (events included when `withEvents`). */
  deadLetters(options: DeadLetterFilter & { withEvents?: boolean; limit?: number } = {}): DeadLetter[] {
    const { where, values } = deadLetterWhere(options);
    const limit = options.limit === undefined ? '' : ` LIMIT ${Math.max(1, Math.trunc(options.limit))}`;
    const rows = this.statement(`SELECT * FROM dead_letters ${where} ORDER BY id${limit}`).all(...values) as Record<string, string | number>[];
    return rows.map((row) => ({
      id: Number(row.id),
      plugin: String(row.plugin),
      version: String(row.version),
      hook: String(row.hook),
      reason: String(row.reason),
      code: String(row.code),
      attempts: Number(row.attempts),
      eventCount: Number(row.event_count),
      events: options.withEvents ? (JSON.parse(String(row.data)) as PluginEvent[]) : [],
      createdAt: String(row.created_at),
    }));
  }

  /**
   * Moves a dead letter back as a fresh delivery: an `exportEvents` one into the export queue as a new
   * batch, any other into the durable retries (due now, a new window). Returns the new batch or retry
   * id, or undefined if there is no such dead letter.
   */
  replayDeadLetter(id: number): { batchId: number; plugin: string; hook: string } | undefined {
    return this.transaction(() => this.replayOne(id));
  }

  /** Replays every dead letter the filter covers (all when it is empty), atomically, oldest first. */
  replayDeadLetters(filter: DeadLetterFilter = {}): { id: number; batchId: number; plugin: string; hook: string }[] {
    const { where, values } = deadLetterWhere(filter);
    return this.transaction(() => {
      const ids = (this.statement(`SELECT id FROM dead_letters ${where} ORDER BY id`).all(...values) as { id: number }[]).map((row) => Number(row.id));
      return ids.map((id) => ({ id, ...this.replayOne(id)! }));
    });
  }

  private replayOne(id: number): { batchId: number; plugin: string; hook: string } | undefined {
    const row = this.statement('SELECT plugin, hook, data FROM dead_letters WHERE id = ?').get(id) as { plugin: string; hook: string; data: string } | undefined;
    if (!row) return undefined;
    const now = Date.now();
    const { lastInsertRowid } =
      row.hook === 'exportEvents'
        ? this.statement('INSERT INTO export_batches (plugin, data, attempts, next_attempt_at) VALUES (?, ?, 0, ?)').run(row.plugin, row.data, now)
        : this.statement('INSERT INTO retries (plugin, kind, data, attempts, next_attempt_at, first_failed_at, last_error) VALUES (?, ?, ?, 0, ?, ?, NULL)').run(
            row.plugin,
            row.hook,
            row.data,
            now,
            now,
          );
    this.statement('DELETE FROM dead_letters WHERE id = ?').run(id);
    return { batchId: Number(lastInsertRowid), plugin: row.plugin, hook: row.hook };
  }

  close(): void {
    this.db.close();
  }
}

interface RetryRow {
  id: number;
  plugin: string;
  kind: string;
  data: string;
  attempts: number;
  next_attempt_at: number;
  first_failed_at: number;
  last_error: string | null;
}

function retryFromRow(row: RetryRow): PendingRetry {
  return {
    id: Number(row.id),
    plugin: row.plugin,
    kind: row.kind,
    payload: JSON.parse(row.data) as JsonValue,
    attempts: Number(row.attempts),
    nextAttemptAt: Number(row.next_attempt_at),
    firstFailedAt: Number(row.first_failed_at),
    lastError: row.last_error,
  };
}

/** The WHERE clause of a dead-letter filter (values bound, never interpolated). */
function deadLetterWhere(filter: DeadLetterFilter): { where: string; values: string[] } {
  const clauses: string[] = [];
  const values: string[] = [];
  for (const [column, value, op] of [
    ['plugin', filter.plugin, '='],
    ['hook', filter.hook, '='],
    ['code', filter.code, '='],
    ['created_at', filter.from, '>='],
    ['created_at', filter.to, '<'],
  ] as const) {
    if (value === undefined) continue;
    clauses.push(`${column} ${op} ?`);
    values.push(value);
  }
  return { where: clauses.length > 0 ? `WHERE ${clauses.join(' AND ')}` : '', values };
}

import { randomUUID } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';

/**
 * Short leases in the runtime's SQLite store, so that runtime processes sharing one data directory
 * (scale-out workers) do not do the same background work twice: an export batch, a PostHog job, or a
 * scheduled hook's period is done by whichever process claims it first. A lease expires by itself, so a
 * process that dies holding one only delays the work. It has its own connection to `runtime.sqlite`
 * (table `leases`), separate from the {@link RuntimeStore}'s.
 */
export class StoreLeases {
  /** Identifies this runtime process among those sharing the store. */
  readonly owner = `${process.pid}-${randomUUID()}`;
  private readonly db: DatabaseSync;
  private readonly claimStatement: StatementSync;
  private readonly releaseStatement: StatementSync;
  private readonly pruneStatement: StatementSync;

  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true });
    this.db = new DatabaseSync(join(dataDir, 'runtime.sqlite'));
    this.db.exec(`
      PRAGMA busy_timeout = 5000;
      CREATE TABLE IF NOT EXISTS leases (key TEXT PRIMARY KEY, owner TEXT NOT NULL, until INTEGER NOT NULL);
    `);
    // One statement, so the check and the take are atomic across processes.
    this.claimStatement = this.db.prepare(
      'INSERT INTO leases (key, owner, until) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, until = excluded.until WHERE leases.until <= ?',
    );
    this.releaseStatement = this.db.prepare('DELETE FROM leases WHERE key = ? AND owner = ?');
    this.pruneStatement = this.db.prepare('DELETE FROM leases WHERE until <= ?');
  }

  /** Takes `key` for `ms` unless another holder's lease on it is still running; true when taken. */
  claim(key: string, ms: number, now = Date.now()): boolean {
    return Number(this.claimStatement.run(key, this.owner, now + ms, now).changes) === 1;
  }

  /** Gives `key` back (only if this process holds it). */
  release(key: string): void {
    this.releaseStatement.run(key, this.owner);
  }

  /** Deletes expired leases. */
  prune(now = Date.now()): void {
    this.pruneStatement.run(now);
  }

  close(): void {
    this.db.close();
  }
}

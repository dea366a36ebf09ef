import { join } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';

/**
 * Read-only questions the quotas ask of the runtime's SQLite store (its own connection, like the
 * leases): how much a plugin has in `meta.storage` and how many of its jobs are waiting.
 */
export class QuotaStore {
  private readonly db: DatabaseSync;
  private readonly stored: StatementSync;
  private readonly pending: StatementSync;

  /** Opens `<dataDir>/runtime.sqlite`; the {@link RuntimeStore} must have created it. */
  constructor(dataDir: string) {
    this.db = new DatabaseSync(join(dataDir, 'runtime.sqlite'));
    this.db.exec('PRAGMA busy_timeout = 5000;');
    this.stored = this.db.prepare('SELECT COALESCE(SUM(length(key) + length(value)), 0) AS bytes FROM plugin_storage WHERE plugin = ?');
    this.pending = this.db.prepare('SELECT COUNT(*) AS count FROM jobs WHERE plugin = ?');
  }

  /** Characters of keys + JSON values a plugin has in `meta.storage`. */
  storedBytes(plugin: string): number {
    return Number((this.stored.get(plugin) as { bytes: number }).bytes);
  }

  /** Jobs of a plugin not yet done (due or later). */
  pendingJobs(plugin: string): number {
    return Number((this.pending.get(plugin) as { count: number }).count);
  }

  close(): void {
    this.db.close();
  }
}

import type { Logger } from 'pino';
import type { DownloadCount, DownloadStats, MetadataStore } from './store/types.js';

/** Options of {@link DownloadCounter}. */
export interface DownloadCounterOptions {
  /** How often pending counts are written to the store, in ms (default 1000). */
  flushIntervalMs?: number;
  logger?: Logger;
}

/**
 * Counts tarball downloads in memory and writes them to the store in one batch every
 * `flushIntervalMs` and on {@link close}, instead of one synchronous commit per download. Trade-off
 * (documented in the README): a crash loses at most the last interval's counts, and other replicas
 * see this process's downloads up to one interval later. This process sees its own at once
 * ({@link addPending}).
 */
export class DownloadCounter {
  private pending = new Map<string, DownloadCount>();
  /** The batch being written: still counted by {@link addPending} until the store has it. */
  private inFlight: DownloadCount[] = [];
  private flushing: Promise<void> = Promise.resolve();
  private readonly timer: NodeJS.Timeout;
  private closed = false;
  private readonly flushListeners: ((names: ReadonlySet<string>) => void)[] = [];

  constructor(
    private readonly store: MetadataStore,
    private readonly options: DownloadCounterOptions = {},
  ) {
    this.timer = setInterval(() => {
      this.flush().catch(() => {}); // logged in write(); the counts stay pending for the next try
    }, options.flushIntervalMs ?? 1000);
    this.timer.unref();
  }

  /** Counts one download of `name@version` on `day` (`YYYY-MM-DD`). */
  count(name: string, version: string, day: string): void {
    const key = `${name}\u0000${version}\u0000${day}`;
    const entry = this.pending.get(key);
    if (entry) entry.count += 1;
    else this.pending.set(key, { name, version, day, count: 1 });
  }

  /** Calls `listener` after each batch is in the store, with the plugin names it touched. */
  onFlushed(listener: (names: ReadonlySet<string>) => void): void {
    this.flushListeners.push(listener);
  }

  /** Whether any download is not yet in the store. */
  get hasPending(): boolean {
    return this.pending.size > 0 || this.inFlight.length > 0;
  }

  /** `stats` (from the store) plus this process's downloads of `name` that are not in the store yet. */
  addPending(name: string, stats: DownloadStats): DownloadStats {
    const extra = [...this.inFlight, ...this.pending.values()].filter((entry) => entry.name === name);
    if (extra.length === 0) return stats;
    const versions = { ...stats.versions };
    const days = new Map(stats.daily.map((row) => [row.day, row.count]));
    let total = stats.total;
    for (const entry of extra) {
      total += entry.count;
      versions[entry.version] = (versions[entry.version] ?? 0) + entry.count;
      days.set(entry.day, (days.get(entry.day) ?? 0) + entry.count);
    }
    const daily = [...days.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([day, count]) => ({ day, count }));
    return { total, versions, daily };
  }

  /** Writes every pending count to the store now (batches never overlap). */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(
      () => this.write(),
      () => this.write(),
    );
    return this.flushing;
  }

  private async write(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = [...this.pending.values()];
    this.pending = new Map();
    this.inFlight = batch;
    try {
      await this.store.recordDownloads(batch);
    } catch (error) {
      // Keep them for the next flush rather than lose them (only those not written, when the store says).
      const unwritten = (error as { unwritten?: DownloadCount[] } | undefined)?.unwritten;
      for (const entry of Array.isArray(unwritten) ? unwritten : batch) {
        const key = `${entry.name}\u0000${entry.version}\u0000${entry.day}`;
        const current = this.pending.get(key);
        if (current) current.count += entry.count;
        else this.pending.set(key, { ...entry });
      }
      this.options.logger?.error({ err: error, entries: batch.length }, 'could not write download counts; will retry');
      throw error;
    } finally {
      this.inFlight = [];
    }
    const names = new Set(batch.map((entry) => entry.name));
    for (const listener of this.flushListeners) listener(names);
  }

  /** Stops the timer and writes what is pending (call before closing the store). */
  async close(): Promise<void> {
    if (this.closed) return this.flushing.catch(() => {});
    this.closed = true;
    clearInterval(this.timer);
    await this.flush();
  }
}

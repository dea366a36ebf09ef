import { randomUUID } from 'node:crypto';
import { mkdirSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync, type StatementSync } from 'node:sqlite';

/**
 * Short leases in the runtime's SQLite store, so that runtime processes sharing one data directory
 * (scale-out workers) do not do the same background work twice: an export batch, a PostHog job, or a
 * scheduled hook's period is done by whichever process claims it first. Leases on running work are kept
 * short and renewed by a heartbeat ({@link StoreLeases.renew}), so a process that dies holding one only
 * delays the work until the lease lapses; {@link StoreLeases.releaseDeadHolders} frees at once the leases
 * of processes on this machine that no longer exist (e.g. this runtime's previous, crashed incarnation).
 * It has its own connection to `runtime.sqlite` (table `leases`), separate from the {@link RuntimeStore}'s.
 */
export class StoreLeases {
  /**
   * Identifies this runtime process among those sharing the store: `<machine>|<pid>|<random>`, where the
   * machine part is the PID namespace (Linux) or host name, so that a PID is only ever checked for
   * liveness by a process that sees the same PIDs.
   */
  readonly owner = `${machineId()}|${process.pid}|${randomUUID()}`;
  private readonly db: DatabaseSync;
  private readonly claimStatement: StatementSync;
  private readonly renewStatement: StatementSync;
  private readonly releaseStatement: StatementSync;
  private readonly pruneStatement: StatementSync;

  constructor(dataDir: string) {
    mkdirSync(dataDir, { recursive: true });
    this.db = new DatabaseSync(join(dataDir, 'runtime.sqlite'));
    this.db.exec(`
      PRAGMA busy_timeout = 5000;
      -- A lease is worth nothing after a power loss (its holder is gone too): no fsync per claim.
      PRAGMA synchronous = NORMAL;
      CREATE TABLE IF NOT EXISTS leases (key TEXT PRIMARY KEY, owner TEXT NOT NULL, until INTEGER NOT NULL);
    `);
    // One statement, so the check and the take are atomic across processes.
    this.claimStatement = this.db.prepare(
      'INSERT INTO leases (key, owner, until) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET owner = excluded.owner, until = excluded.until WHERE leases.until <= ?',
    );
    this.renewStatement = this.db.prepare('UPDATE leases SET until = ? WHERE key = ? AND owner = ?');
    this.releaseStatement = this.db.prepare('DELETE FROM leases WHERE key = ? AND owner = ?');
    this.pruneStatement = this.db.prepare('DELETE FROM leases WHERE until <= ?');
  }

  /** Takes `key` for `ms` unless another holder's lease on it is still running; true when taken. */
  claim(key: string, ms: number, now = Date.now()): boolean {
    return Number(this.claimStatement.run(key, this.owner, now + ms, now).changes) === 1;
  }

  /** Extends this process's lease on `key` to `now + ms`; false when it no longer holds it. */
  renew(key: string, ms: number, now = Date.now()): boolean {
    return Number(this.renewStatement.run(now + ms, key, this.owner).changes) === 1;
  }

  /** Gives `key` back (only if this process holds it). */
  release(key: string): void {
    this.releaseStatement.run(key, this.owner);
  }

  /** Deletes expired leases. */
  prune(now = Date.now()): void {
    this.pruneStatement.run(now);
  }

  /**
   * Deletes the leases held by processes of this machine that have exited (a crashed runtime, including
   * this one's previous incarnation), so their work is picked up at once instead of when the lease lapses.
   * Leases of other machines, of live processes, and of unrecognised holders are left to expire. Returns
   * how many were released.
   */
  releaseDeadHolders(): number {
    const machine = machineId();
    const holders = this.db.prepare('SELECT DISTINCT owner FROM leases').all() as { owner: string }[];
    const remove = this.db.prepare('DELETE FROM leases WHERE owner = ?');
    let released = 0;
    for (const { owner } of holders) {
      const [ownerMachine, pidText] = owner.split('|');
      const pid = Number(pidText);
      if (ownerMachine !== machine || !Number.isInteger(pid) || pid <= 0 || pid === process.pid || isAlive(pid)) continue;
      released += Number(remove.run(owner).changes);
    }
    return released;
  }

  close(): void {
    this.db.close();
  }
}

/** The PID namespace of this process on Linux (e.g. `pid:[4026531836]`), else the host name. */
function machineId(): string {
  try {
    return `${hostname()}:${readlinkSync('/proc/self/ns/pid')}`;
  } catch {
    return hostname();
  }
}

/** Whether a process with this PID exists (EPERM: it exists but belongs to someone else). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Runs `work` while holding the lease `key` (false, without running it, when another runtime holds it).
 * The lease is short and renewed by a heartbeat while the work runs, so if this process dies the lease
 * lapses within `ms` and another runtime (or this one restarted) takes the work over.
 */
export async function runWithLease(
  leases: StoreLeases,
  key: string,
  ms: number,
  logger: { warn(fields: object, message: string): void },
  work: () => Promise<void>,
): Promise<boolean> {
  if (!leases.claim(key, ms)) return false;
  const heartbeat = setInterval(() => {
    try {
      if (!leases.renew(key, ms)) logger.warn({ lease: key }, 'lost a claim while its work was running (another runtime may repeat it)');
    } catch (error) {
      // A busy store must not crash the process from a timer; the next beat tries again.
      logger.warn({ lease: key, err: error }, 'could not renew a claim');
    }
  }, Math.max(1, Math.floor(ms / 3)));
  heartbeat.unref();
  try {
    await work();
  } finally {
    clearInterval(heartbeat);
    leases.release(key);
  }
  return true;
}

import type { Logger } from 'pino';

/** Counts what reached the guard (the runtime's `plugline_uncaught_errors_total{kind}`). */
interface GuardCounter {
  inc(labels: { kind: string }): void;
}

/** A process-level guard: see {@link installProcessGuard}. */
export interface ProcessGuard {
  /** Starts counting in this counter (what arrived before is counted into it at once). */
  attach(counter: GuardCounter): void;
  /** Removes the process handlers. */
  uninstall(): void;
}

/**
 * Installs `uncaughtException` and `unhandledRejection` handlers for the `plugline-runtime` binary.
 * Every host-side emitter has its own error path (postgres pools, Redis, timers, the store's tick); this
 * is the net under them: whatever still escapes is logged with pino (`level: fatal` for an exception,
 * `error` for a rejection, with the error and its origin) and counted, and the process keeps running.
 *
 * Why keep running: what escapes in practice is an error event or a rejected promise of a network
 * resource (a socket closed under a pool, a reconnecting client), which leaves no state behind; the
 * runtime's durable state is changed only in SQLite transactions, so nothing half-written survives a
 * throw either. Dying instead would drop every in-flight capture request and restart every isolate
 * (the 17 crashes of issue #16). Set `exitOnUncaught` (`PLUGLINE_EXIT_ON_UNCAUGHT=1`) to exit with
 * status 70 after logging instead, for a supervisor that prefers restarts. Repeated escapes are a bug
 * to report: the log line names the origin, and the metric makes them alertable.
 */
export function installProcessGuard(logger: Logger, options: { exitOnUncaught?: boolean } = {}): ProcessGuard {
  let counter: GuardCounter | undefined;
  const early: string[] = [];
  const count = (kind: string) => {
    if (counter) counter.inc({ kind });
    else early.push(kind);
  };
  const onException = (error: Error, origin: string) => {
    logger.fatal({ err: error, origin }, options.exitOnUncaught ? 'uncaught exception: exiting (PLUGLINE_EXIT_ON_UNCAUGHT)' : 'uncaught exception: logged, the runtime keeps running');
    count('exception');
    if (options.exitOnUncaught) {
      logger.flush?.();
      process.exit(70);
    }
  };
  const onRejection = (reason: unknown) => {
    logger.error({ err: reason }, 'unhandled promise rejection: logged, the runtime keeps running');
    count('rejection');
  };
  process.on('uncaughtException', onException);
  process.on('unhandledRejection', onRejection);
  return {
    attach(next) {
      counter = next;
      for (const kind of early.splice(0)) next.inc({ kind });
    },
    uninstall() {
      process.off('uncaughtException', onException);
      process.off('unhandledRejection', onRejection);
    },
  };
}

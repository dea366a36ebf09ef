/**
 * Errors of host-side resources shared by the whole process (PostgreSQL pools, Redis connections, ...)
 * that are caught where they are emitted, so that none can crash the process ("Unhandled 'error'
 * event"). The emitter's error path calls {@link reportHostError}; every runtime of the process
 * subscribes with {@link onHostError} to log and count them (`plugline_host_errors_total{resource}`).
 */
type HostErrorListener = (resource: string, error: unknown) => void;

const listeners = new Set<HostErrorListener>();

/** Subscribes to host resource errors; returns the unsubscribe function. */
export function onHostError(listener: HostErrorListener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Reports an error an emitter of `resource` (e.g. `postgres`) raised and that was survived. Never throws. */
export function reportHostError(resource: string, error: unknown): void {
  for (const listener of listeners) {
    try {
      listener(resource, error);
    } catch {
      // A listener's failure must not turn a survived error into a crash.
    }
  }
}

// generic-pool 3 (the library PostHog gave plugins), bundled as it is. Its timers (acquireTimeoutMillis,
// evictionRunIntervalMillis, destroyTimeoutMillis) need setTimeout, which a bare isolate does not have:
// leave those options unset.
import * as genericPool from 'generic-pool';

const m = ((genericPool as unknown as { default?: typeof genericPool }).default ?? genericPool) as typeof genericPool;
export const createPool = m.createPool;
export const Pool = m.Pool;
export default m;

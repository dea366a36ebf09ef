import express from 'express';
import type { DryRunInput } from './dry-run.js';
import { refuseCrossSite } from './management-routes.js';
import type { PostHogRouteOptions } from './posthog-routes.js';
import type { Runtime } from './runtime.js';

/**
 * `POST /api/chain/dry-run` with `{ "event": { ... } }` or `{ "uuid": "..." }`: the event through the
 * running chain without storing, exporting or sending anything (see dry-run.ts and the runtime README,
 * "Per-plugin stats, logs and the dry run"). Under /api/ (admin token), refused cross-site like every
 * chain change, the body capped at the per-event limit (1 MiB by default) plus room for the wrapper.
 * A plugin's own side effects in processEvent (fetch, cache, storage, posthog.capture) still happen.
 */
export function createDryRunRouter(runtime: Runtime, posthog: PostHogRouteOptions = {}): express.Router {
  const router = express.Router();
  const json = express.json({ limit: runtime.limits.maxEventBytes + 1024 });
  router.post('/api/chain/dry-run', refuseCrossSite, json, async (req, res) => {
    // As capture would, but the caller's address is not a client's: `$ip` only when the event carries one.
    res.json(await runtime.dryRun(req.body as DryRunInput, { now: new Date(), ...(posthog.anonymizeIps ? { anonymizeIps: true } : {}) }));
  });
  return router;
}

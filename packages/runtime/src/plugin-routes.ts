import express from 'express';
import { logQueryFrom } from './plugin-description.js';
import type { Runtime } from './runtime.js';

// One plugin's page data: its description with every kept log line, and its logs by level. Under
// /api/, so the management face's token guard covers them (GET: nothing to refuse cross-site).

/**
 * `GET /api/plugins/:name` (the plugin as `GET /api/plugins` lists it, `recentLogs` holding every kept
 * line) and `GET /api/plugins/:name/logs?level=warn&limit=100` (`{ logs }`, newest last, `level` the
 * lowest level answered). `404 ERR_PLUGIN_NOT_INSTALLED` for a plugin not in the chain.
 */
export function createPluginRouter(runtime: Runtime): express.Router {
  const router = express.Router();
  router.get('/api/plugins/:name', (req, res) => {
    res.json(runtime.describePlugin(String(req.params.name)));
  });
  router.get('/api/plugins/:name/logs', (req, res) => {
    res.json({ logs: runtime.pluginLogs(String(req.params.name), logQueryFrom(req.query as Record<string, unknown>)) });
  });
  return router;
}

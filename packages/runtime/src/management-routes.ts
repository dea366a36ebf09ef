import { PluglineError } from '@plugline/sdk';
import express, { type Request } from 'express';
import { addLivePlugin, changePluginVersion, movePlugin, removeLivePlugin, reorderChain, setPluginEnabled } from './management.js';
import type { Runtime } from './runtime.js';

// The live management API's routes (the logic is management.ts). Under /api/, so the management
// face's token guard covers them.

const json = express.json({ limit: '1mb' });

function body(req: Request): Record<string, unknown> {
  const value = req.body as unknown;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new PluglineError('ERR_BAD_REQUEST', 'The body must be a JSON object');
  return value as Record<string, unknown>;
}

function optionalString(value: unknown, key: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || value.trim() === '') throw new PluglineError('ERR_BAD_REQUEST', `${key} must be a non-empty string`);
  return value;
}

function optionalConfig(value: unknown): Record<string, unknown> | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new PluglineError('ERR_BAD_REQUEST', 'config must be a JSON object');
  return value as Record<string, unknown>;
}

function optionalGrants(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((grant) => typeof grant === 'string')) throw new PluglineError('ERR_BAD_REQUEST', 'grants must be an array of strings ("net:host[:port]", "postgres")');
  return value as string[];
}

/**
 * Refuses a chain change a browser sends on behalf of another site (a form on any web page can POST
 * to a runtime on localhost: `POST .../disable` needs no body): `Sec-Fetch-Site` other than
 * `same-origin` / `none`, or an `Origin` that is not this host. Clients that are not browsers (curl,
 * the CLI) send neither header. Also guards the chain's dry run (dry-run-routes.ts).
 */
export function refuseCrossSite(req: Request, _res: unknown, next: (error?: unknown) => void): void {
  if (req.method === 'GET' || req.method === 'HEAD' || req.method === 'OPTIONS') {
    next();
    return;
  }
  const site = req.get('sec-fetch-site');
  const origin = req.get('origin');
  let foreign = site !== undefined && site !== 'same-origin' && site !== 'none';
  if (!foreign && origin !== undefined) {
    try {
      foreign = new URL(origin).host !== req.get('host');
    } catch {
      foreign = true;
    }
  }
  next(foreign ? new PluglineError('ERR_FORBIDDEN', 'A chain change from another site is refused (Sec-Fetch-Site / Origin)') : undefined);
}

/**
 * `POST /api/plugins`, `DELETE /api/plugins/:name`, `POST /api/plugins/:name/enable|disable`,
 * `PUT /api/plugins/:name/position`, `PUT /api/plugins/:name/version` and `PUT /api/chain`: the running
 * chain changed live (see management.ts and the runtime README, "Live management API").
 */
export function createManagementRouter(runtime: Runtime): express.Router {
  const router = express.Router();
  router.use(['/api/plugins', '/api/chain'], refuseCrossSite);

  router.post('/api/plugins', json, async (req, res) => {
    const request = body(req);
    const name = optionalString(request.name, 'name');
    if (!name) throw new PluglineError('ERR_BAD_REQUEST', 'The body must be { "name": "...", "spec"?, "config"?, "grants"?, "enabled"?, "position"? }');
    if (request.enabled !== undefined && typeof request.enabled !== 'boolean') throw new PluglineError('ERR_BAD_REQUEST', 'enabled must be a boolean');
    const spec = optionalString(request.spec, 'spec');
    const config = optionalConfig(request.config);
    const grants = optionalGrants(request.grants);
    const added = await addLivePlugin(runtime, {
      name,
      ...(spec ? { spec } : {}),
      ...(config ? { config } : {}),
      ...(grants ? { grants } : {}),
      ...(request.enabled !== undefined ? { enabled: request.enabled as boolean } : {}),
      ...(request.position !== undefined ? { position: request.position as number } : {}),
    });
    res.status(201).json(added);
  });

  router.delete('/api/plugins/:name', async (req, res) => {
    res.json(await removeLivePlugin(runtime, String(req.params.name)));
  });

  router.post('/api/plugins/:name/enable', async (req, res) => {
    res.json(await setPluginEnabled(runtime, String(req.params.name), true));
  });

  router.post('/api/plugins/:name/disable', async (req, res) => {
    res.json(await setPluginEnabled(runtime, String(req.params.name), false));
  });

  router.put('/api/plugins/:name/position', json, async (req, res) => {
    res.json(await movePlugin(runtime, String(req.params.name), body(req).index as number));
  });

  router.put('/api/plugins/:name/version', json, async (req, res) => {
    const request = req.body === undefined ? {} : body(req);
    const spec = optionalString(request.spec, 'spec');
    const config = optionalConfig(request.config);
    const grants = optionalGrants(request.grants);
    res.json(await changePluginVersion(runtime, String(req.params.name), { ...(spec ? { spec } : {}), ...(config ? { config } : {}), ...(grants ? { grants } : {}) }));
  });

  router.put('/api/chain', json, async (req, res) => {
    const order = body(req).order;
    if (!Array.isArray(order) || !order.every((name) => typeof name === 'string')) throw new PluglineError('ERR_BAD_REQUEST', 'The body must be { "order": ["plugin", ...] }');
    res.json(await reorderChain(runtime, order as string[]));
  });

  return router;
}

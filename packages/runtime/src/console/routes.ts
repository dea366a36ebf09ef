import { RegistryClient } from '@plugline/registry-client';
import { type ConfigSchema, PluglineError, isPluglineError } from '@plugline/sdk';
import express, { type Request, type Response } from 'express';
import type { DryRunResult } from '../dry-run.js';
import type { PostHogRouteOptions } from '../posthog-routes.js';
import { addLivePlugin, changePluginVersion, movePlugin, removeLivePlugin, setPluginEnabled } from '../management.js';
import { readProject } from '../project.js';
import type { Runtime } from '../runtime.js';
import { consoleAction, pageContext } from './actions.js';
import { html } from './html.js';
import { page } from './layout.js';
import { pluginPath, renderChainPage } from './chain-page.js';
import { consoleScript } from './client-bundle.generated.js';
import { applyFormAction, configValidatorId, configValidatorScript, readConfigForm } from './config-form.js';
import { renderExportsPage } from './exports-page.js';
import { installPath, renderInstallPage, renderSearchPage } from './install-page.js';
import { mountLogin } from './login.js';
import { type LogLevel, type PluginPageData, renderPluginPage } from './plugin-page.js';
import type { ConsoleSessions } from './session.js';
import { consoleCss } from './style.js';
import { renderTesterPage, sampleEvent } from './tester-page.js';

// The runtime console's routes under /console, on the management face. auth.ts lets a request in with
// the session cookie or the Bearer header (the login page and the static assets need neither); every
// form posts to a route here (actions.ts: same-site, CSRF), which calls the live management API.

const policy = ["default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self'", "connect-src 'none'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'"].join('; ');
const favicon = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1d2330"/><path d="M4 4h5a3 3 0 0 1 0 6H6v2H4z" fill="#fff"/></svg>';

function send(res: Response, type: string, body: string, cache: string, status = 200) {
  res
    .status(status)
    .set({ 'Content-Type': type, 'Content-Security-Policy': policy, 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'same-origin', 'X-Frame-Options': 'DENY', 'Cache-Control': cache })
    .send(body);
}

const sendPage = (res: Response, body: string, status = 200) => send(res, 'text/html; charset=utf-8', body, 'no-store', status);

function member(runtime: Runtime, name: string) {
  const found = runtime.chainMembers().find((candidate) => candidate.name === name);
  if (!found) throw new PluglineError('ERR_PLUGIN_NOT_INSTALLED', `${name} is not in the chain`);
  return found;
}

async function registryClient(runtime: Runtime): Promise<RegistryClient | undefined> {
  const url = runtime.registryUrl ?? (await readProject(runtime.dir)).registry;
  return url ? new RegistryClient({ url }) : undefined;
}

const levels: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

// Schemas whose config form a page rendered, by validator id, for /console/config-validator/<id>.js
// (at most 256: the oldest is forgotten; a page reloaded registers its schema again).
const validatorSchemas = new Map<string, ConfigSchema>();
function rememberSchema(schema: ConfigSchema | undefined): void {
  if (!schema) return;
  const id = configValidatorId(schema);
  validatorSchemas.delete(id);
  validatorSchemas.set(id, schema);
  if (validatorSchemas.size > 256) validatorSchemas.delete(validatorSchemas.keys().next().value!);
}

async function pluginPageData(runtime: Runtime, name: string, level: LogLevel): Promise<PluginPageData> {
  const plugin = runtime.describePlugins().find((candidate) => candidate.name === name);
  if (!plugin) throw new PluglineError('ERR_PLUGIN_NOT_INSTALLED', `${name} is not in the chain`);
  const data: PluginPageData = { plugin, schema: member(runtime, name).installed.manifest.config, level };
  rememberSchema(data.schema);
  try {
    const client = await registryClient(runtime);
    if (client) {
      const document = await client.getPlugin(name);
      data.versions = { versions: Object.keys(document.versions).reverse(), distTags: document.distTags };
    }
  } catch (error) {
    data.versions = { error: isPluglineError(error) ? (error as PluglineError).message : 'unreachable' };
  }
  return data;
}

async function installData(runtime: Runtime, name: string, spec: string) {
  const client = await registryClient(runtime);
  if (!client) throw new PluglineError('ERR_REGISTRY_UNREACHABLE', 'No registry is connected (set "registry" in plugins.json)');
  const [plugin, version] = await Promise.all([client.getPlugin(name), client.resolve(name, spec)]);
  rememberSchema(version.config);
  return { plugin, version, chain: runtime.chainMembers().map((candidate) => candidate.name) };
}

/** The console: pages, assets, login and the form routes. */
export function createConsoleRouter(runtime: Runtime, options: { adminToken: string; sessions: ConsoleSessions; posthog?: PostHogRouteOptions }): express.Router {
  const router = express.Router();
  const { sessions } = options;
  const dir = runtime.dir;
  const action = (back: (req: Request) => string, handler: Parameters<typeof consoleAction>[3]) => consoleAction(sessions, dir, back, handler);
  const name = (req: Request) => String(req.params.name);
  const toChain = () => '/console';
  const toPlugin = (req: Request) => pluginPath(name(req));

  router.get('/console/console.css', (_req, res) => send(res, 'text/css; charset=utf-8', consoleCss, 'no-cache'));
  router.get('/console/console.js', (_req, res) => send(res, 'text/javascript; charset=utf-8', consoleScript, 'no-cache'));
  // The browser validator of each config schema a page showed (content-addressed: the id is its hash).
  router.get('/console/config-validator/:file', (req, res) => {
    const schema = /^([A-Za-z0-9_-]{16})\.js$/.exec(String(req.params.file))?.[1];
    const known = schema ? validatorSchemas.get(schema) : undefined;
    if (!known) throw new PluglineError('ERR_NOT_FOUND', 'No such validator');
    send(res, 'text/javascript; charset=utf-8', configValidatorScript(known), 'private, max-age=86400, immutable');
  });
  router.get('/console/favicon.svg', (_req, res) => send(res, 'image/svg+xml', favicon, 'max-age=86400'));
  mountLogin(router, { dir, adminToken: options.adminToken, sessions, sendPage });

  // The chain and its controls.
  router.get(['/console', '/console/'], (_req, res) => sendPage(res, renderChainPage(pageContext(res, dir), runtime)));
  for (const enabled of [true, false]) {
    router.post(
      `/console/plugins/:name/${enabled ? 'enable' : 'disable'}`,
      ...action(toChain, async ({ req }) => {
        const plugin = await setPluginEnabled(runtime, name(req), enabled);
        return { redirect: '/console', message: `${plugin.name} ${enabled ? 'enabled' : 'disabled'}` };
      }),
    );
  }
  router.post(
    '/console/plugins/:name/move',
    ...action(toChain, async ({ req, form }) => {
      const to = Number(form.get('to'));
      const { order } = await movePlugin(runtime, name(req), to);
      return { redirect: '/console', message: `${name(req)} moved to position ${order.indexOf(name(req)) + 1}` };
    }),
  );
  router.post(
    '/console/plugins/:name/remove',
    ...action(toChain, async ({ req }) => {
      const removed = await removeLivePlugin(runtime, name(req));
      return { redirect: '/console', message: `${removed.name} ${removed.version} removed from the chain` };
    }),
  );

  // One plugin: its page, config, version and grants.
  router.get('/console/plugins/:name', async (req, res) => {
    const level = levels.includes(req.query.level as LogLevel) ? (req.query.level as LogLevel) : 'debug';
    sendPage(res, renderPluginPage(pageContext(res, dir), await pluginPageData(runtime, name(req), level)));
  });
  router.post(
    '/console/plugins/:name/config',
    ...action(toPlugin, async ({ req, res, form, context }) => {
      const schema = member(runtime, name(req)).installed.manifest.config;
      const stored = (await readProject(dir)).plugins.find((entry) => entry.name === name(req))?.config ?? {};
      const edit = applyFormAction(schema, form, stored);
      const read = edit.action === 'edit' ? { value: edit.config, errors: [] } : readConfigForm(schema, form, stored);
      if (edit.action === 'edit' || read.errors.length > 0) {
        const data = await pluginPageData(runtime, name(req), 'debug');
        sendPage(res, renderPluginPage(context, { ...data, draft: { config: read.value, errors: read.errors } }), read.errors.length > 0 ? 422 : 200);
        return undefined;
      }
      await runtime.setPluginConfig(name(req), read.value);
      return { redirect: pluginPath(name(req)), message: `Config of ${name(req)} saved; the plugin restarted with it` };
    }),
  );
  router.post(
    '/console/plugins/:name/version',
    ...action(toPlugin, async ({ req, form }) => {
      const spec = (form.get('spec') ?? '').trim();
      if (spec === '') throw new PluglineError('ERR_BAD_REQUEST', 'Choose a version');
      const changed = await changePluginVersion(runtime, name(req), { spec });
      return { redirect: pluginPath(name(req)), message: `${name(req)} now runs ${changed.to}${changed.changed ? '' : ' (unchanged)'}` };
    }),
  );
  router.post(
    '/console/plugins/:name/grants',
    ...action(toPlugin, async ({ req, form }) => {
      const result = await runtime.setPluginGrants(name(req), form.getAll('grant'));
      return { redirect: pluginPath(name(req)), message: `Grants of ${name(req)} saved (${result.granted.length > 0 ? result.granted.join(', ') : 'none'}); it is ${result.status}` };
    }),
  );

  // Install from the registry.
  router.get('/console/install', async (req, res) => {
    const q = typeof req.query.q === 'string' ? req.query.q.slice(0, 200) : '';
    const client = await registryClient(runtime);
    const installed = runtime.chainMembers().map((candidate) => candidate.name);
    const data: Parameters<typeof renderSearchPage>[1] = { registry: client?.url, q, installed };
    if (client) {
      try {
        data.result = await client.search({ q, size: 50 });
      } catch (error) {
        data.error = isPluglineError(error) ? `${(error as PluglineError).code}: ${(error as PluglineError).message}` : 'The registry could not be asked';
      }
    }
    sendPage(res, renderSearchPage(pageContext(res, dir), data));
  });
  router.get('/console/install/:name', async (req, res) => {
    const spec = typeof req.query.version === 'string' && req.query.version !== '' ? req.query.version : 'latest';
    sendPage(res, renderInstallPage(pageContext(res, dir), await installData(runtime, name(req), spec)));
  });
  router.post(
    '/console/install/:name',
    ...action(
      (req) => installPath(name(req)),
      async ({ req, res, form, context }) => {
        const spec = (form.get('spec') ?? '').trim() || 'latest';
        const data = await installData(runtime, name(req), spec);
        const schema = data.version.config;
        const edit = applyFormAction(schema, form);
        const read = edit.action === 'edit' ? { value: edit.config, errors: [] } : readConfigForm(schema, form, {});
        const grants = form.getAll('grant');
        const position = Number(form.get('position') ?? data.chain.length);
        const again = (status: number, message?: string) =>
          sendPage(res, renderInstallPage(context, { ...data, draft: { config: read.value, errors: read.errors, grants, position, spec, ...(message ? { message } : {}) } }), status);
        if (edit.action === 'edit' || read.errors.length > 0) {
          again(read.errors.length > 0 ? 422 : 200);
          return undefined;
        }
        try {
          const added = await addLivePlugin(runtime, { name: name(req), spec, config: read.value, grants, position });
          return { redirect: '/console', message: `${added.name} ${added.version} installed at position ${position + 1}${added.deprecated ? ` (deprecated: ${added.deprecated})` : ''}` };
        } catch (error) {
          if (!isPluglineError(error)) throw error;
          again((error as PluglineError).status, `${(error as PluglineError).code}: ${(error as PluglineError).message}`);
          return undefined;
        }
      },
    ),
  );

  // Exports and dead letters.
  router.get('/console/exports', (_req, res) => sendPage(res, renderExportsPage(pageContext(res, dir), runtime)));
  router.post(
    '/console/dead-letters/:id/replay',
    ...action(
      () => '/console/exports',
      async ({ req }) => {
        const id = Number(req.params.id);
        if (!Number.isInteger(id) || id < 1) throw new PluglineError('ERR_NOT_FOUND', `no dead letter ${req.params.id}`);
        const replayed = runtime.replayDeadLetter(id);
        return { redirect: '/console/exports', message: `Dead letter ${id} re-driven: its events are back in ${replayed.plugin}'s export queue` };
      },
    ),
  );
  router.post(
    '/console/dead-letters/replay',
    ...action(
      () => '/console/exports',
      async ({ form }) => {
        const plugin = form.get('plugin');
        if (!plugin) throw new PluglineError('ERR_BAD_REQUEST', 'Choose the plugin whose dead letters to re-drive');
        const replayed = runtime.replayDeadLetters({ plugin });
        return { redirect: '/console/exports', message: `${replayed.length} dead letter${replayed.length === 1 ? '' : 's'} of ${plugin} re-driven` };
      },
    ),
  );

  // The event tester.
  const stored = () => runtime.queryEvents({ limit: 20, order: 'desc' });
  router.get('/console/tester', (_req, res) => sendPage(res, renderTesterPage(pageContext(res, dir), { stored: stored(), text: JSON.stringify(sampleEvent, null, 2) })));
  router.post(
    '/console/tester',
    ...action(
      () => '/console/tester',
      async ({ res, form, context }) => {
        const text = form.get('event') ?? '';
        const uuid = form.get('uuid') ?? '';
        const render = (status: number, extra: { error?: string; result?: DryRunResult }) =>
          sendPage(res, renderTesterPage(context, { stored: stored(), text, ...(uuid ? { uuid } : {}), ...extra }), status);
        let input: { uuid: string } | { event: Record<string, unknown> };
        if (uuid !== '') input = { uuid };
        else {
          try {
            input = { event: JSON.parse(text) as Record<string, unknown> };
          } catch (error) {
            render(400, { error: `The event is not JSON: ${(error as Error).message}` });
            return undefined;
          }
        }
        try {
          render(200, { result: await runtime.dryRun(input, { now: new Date(), ...(options.posthog?.anonymizeIps ? { anonymizeIps: true } : {}) }) });
        } catch (error) {
          if (!isPluglineError(error)) throw error;
          render((error as PluglineError).status, { error: `${(error as PluglineError).code}: ${(error as PluglineError).message}` });
        }
        return undefined;
      },
    ),
  );

  // A console page that failed answers an HTML page with the coded error (the JSON API answers JSON).
  router.use('/console', (error: unknown, _req: Request, res: Response, next: express.NextFunction) => {
    if (!isPluglineError(error) || res.headersSent) return next(error);
    const coded = error as PluglineError;
    sendPage(res, errorPage(pageContext(res, dir), coded), coded.status);
  });

  return router;
}

function errorPage(context: ReturnType<typeof pageContext>, error: PluglineError): string {
  return page(context, { title: error.code, section: 'chain', body: html`<h2>${error.code}</h2><p class="flash flash-error" role="alert">${error.message}</p><p><a href="/console">Back to the chain</a></p>` });
}

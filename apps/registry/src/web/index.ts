import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import express, { type NextFunction, type Request, type Response, Router } from 'express';
import { isSearchSort, searchPlugins } from '../search.js';
import type { MetadataStore } from '../store/types.js';
import { type AssetManifest, webAssetsDir } from './assets-dir.js';
import { faviconPath, faviconSvg } from './favicon.js';
import { homePage, notFoundPage, type PageAssets, pluginPage, privatePage, searchPageSize } from './pages.js';

// build-assets.ts is build-time only (it imports esbuild, a devDependency): never import it from here.
export { type AssetManifest, webAssetsDir } from './assets-dir.js';
export { type ConfigField, configFields, type FieldKind, renderConfigForm } from './config-form.js';
export { renderReadme } from './readme.js';

/** What the marketplace web pages get from the registry. */
export interface WebContext {
  store: MetadataStore;
  /** Base URL for absolute links, when the registry knows its public address. */
  publicUrl?: string;
  /** Where the built browser assets are (default {@link webAssetsDir}, filled by `npm run build`). */
  assetsDir?: string;
  /**
   * A private registry (API reads need a `read` token): the pages would show plugin names, READMEs and
   * schemas to anyone, and a browser sends no bearer token, so every page answers 403 instead.
   */
  private?: boolean;
}

// README HTML is sanitized already; the policy is the second wall: no inline script, no plugins, no
// framing, and scripts only from this origin. `'unsafe-eval'` on plugin pages only: ajv compiles the
// config schema to a function in the browser, as it does in the runtime.
function contentSecurityPolicy(allowEval: boolean): string {
  return [
    "default-src 'self'",
    `script-src 'self'${allowEval ? " 'unsafe-eval'" : ''}`,
    "style-src 'self'",
    "img-src 'self' https: data:",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; ');
}

function sendPage(response: Response, status: number, body: string, options: { allowEval?: boolean } = {}): void {
  response
    .status(status)
    .set({
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Security-Policy': contentSecurityPolicy(options.allowEval ?? false),
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'same-origin',
      'Cache-Control': 'no-cache',
    })
    .send(body);
}

function queryString(request: Request, key: string): string {
  const value = (request.query as Record<string, unknown>)[key];
  return typeof value === 'string' ? value : '';
}

/**
 * The marketplace pages, mounted at `/` after the API routes:
 * - `GET /` — search box with instant results (`/api/v1/search` from the browser; server-rendered for `?q=`)
 * - `GET /plugins/:name` (scoped names URL-encoded, or `/plugins/@scope/name`), `?version=` picks a
 *   version or dist-tag — README, install command, config form, versions, dist-tags, downloads chart
 * - `GET /assets/*` — the bundled script and stylesheet (content-hashed, cached immutably)
 * - `GET /favicon.svg` — the icon every page links to; `GET /favicon.ico` redirects to it
 */
export function createWebRouter(context: WebContext): Router {
  const { store } = context;
  const assetsDir = context.assetsDir ?? webAssetsDir;
  const router = Router();

  let assets: Promise<PageAssets> | undefined;
  const loadAssets = (request: Request): Promise<PageAssets> => {
    assets ??= readFile(join(assetsDir, 'assets.json'), 'utf8').then(
      (text) => {
        const manifest = JSON.parse(text) as AssetManifest;
        return { ...(manifest['app.js'] ? { script: manifest['app.js'] } : {}), ...(manifest['style.css'] ? { stylesheet: manifest['style.css'] } : {}) };
      },
      (error: unknown) => {
        // Pages still render (server-side, unstyled) so the registry stays usable; the log says why.
        request.log?.warn({ err: error, assetsDir }, 'marketplace assets missing: run `npm run build -w @plugline/registry`');
        assets = undefined;
        return {};
      },
    );
    return assets;
  };

  // Served by private registries too: it is no plugin data, and browsers ask for it on the 403 page.
  router.get(faviconPath, (_request: Request, response: Response) => {
    response.set({ 'Content-Type': 'image/svg+xml', 'Cache-Control': 'public, max-age=86400', 'X-Content-Type-Options': 'nosniff' }).send(faviconSvg);
  });
  router.get('/favicon.ico', (_request: Request, response: Response) => {
    response.redirect(301, faviconPath);
  });

  if (context.private) {
    router.get('/{*path}', (_request: Request, response: Response) => {
      sendPage(response, 403, privatePage());
    });
    return router;
  }

  router.use(
    '/assets',
    express.static(assetsDir, { index: false, immutable: true, maxAge: '365d', fallthrough: true }),
    (_request: Request, response: Response) => {
      response.status(404).type('text/plain').send('No such asset');
    },
  );

  const page =
    (handler: (request: Request, response: Response) => Promise<void>) =>
    async (request: Request, response: Response, next: NextFunction): Promise<void> => {
      try {
        await handler(request, response);
      } catch (error) {
        next(error);
      }
    };

  router.get(
    '/',
    page(async (request, response) => {
      const query = queryString(request, 'q').trim();
      const keywords = queryString(request, 'keywords').split(',').map((keyword) => keyword.trim()).filter(Boolean);
      const requestedPage = Number(queryString(request, 'page') || '1');
      const page = Number.isSafeInteger(requestedPage) && requestedPage >= 1 ? requestedPage : 1;
      const requestedSort = queryString(request, 'sort');
      const sort = isSearchSort(requestedSort) ? requestedSort : 'relevance';
      const { total, results } = searchPlugins(await store.listPlugins(), { q: query, keywords, page, size: searchPageSize, sort });
      sendPage(response, 200, homePage({ query, page, sort, total, hits: results, assets: await loadAssets(request) }));
    }),
  );

  const showPlugin = async (request: Request, response: Response, name: string): Promise<void> => {
    const pageAssets = await loadAssets(request);
    const plugin = await store.getPlugin(name);
    if (!plugin) {
      sendPage(response, 404, notFoundPage({ message: `There is no plugin named “${name}”.`, assets: pageAssets }));
      return;
    }
    // READMEs can be 256 KiB each: only the shown version's is read.
    const [versions, downloads, maintainers] = await Promise.all([
      store.listVersions(name, { readme: false }),
      store.getDownloads(name),
      store.getMaintainers(plugin.ownerKey),
    ]);
    const wanted = queryString(request, 'version');
    const version = wanted ? (plugin.distTags[wanted] ?? wanted) : plugin.distTags.latest;
    const shown = versions.find((record) => record.version === version) ?? (wanted ? undefined : versions[versions.length - 1]);
    const current = shown && (await store.getVersion(name, shown.version));
    if (!current) {
      sendPage(response, 404, notFoundPage({ message: `${name} has no version or dist-tag “${wanted}”.`, assets: pageAssets }));
      return;
    }
    sendPage(response, 200, pluginPage({ plugin, versions, current, downloads, maintainers, now: new Date(), assets: pageAssets }), { allowEval: true });
  };

  router.get(
    '/plugins/:name',
    page((request, response) => showPlugin(request, response, String(request.params.name))),
  );
  // Scoped names typed unencoded: /plugins/@acme/geo.
  router.get(
    '/plugins/:scope/:name',
    page(async (request, response) => {
      const scope = String(request.params.scope);
      if (!scope.startsWith('@')) {
        sendPage(response, 404, notFoundPage({ message: 'No such page.', assets: await loadAssets(request) }));
        return;
      }
      await showPlugin(request, response, `${scope}/${String(request.params.name)}`);
    }),
  );

  // Any other page a browser asks for gets the HTML 404 (API paths never reach this router).
  router.get(
    '/{*path}',
    page(async (request, response) => {
      if (!request.accepts('html')) {
        response.status(404).type('text/plain').send('Not found');
        return;
      }
      sendPage(response, 404, notFoundPage({ message: 'No such page.', assets: await loadAssets(request) }));
    }),
  );

  return router;
}

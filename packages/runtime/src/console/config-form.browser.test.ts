import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ConfigSchema } from '@plugline/sdk';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { consoleScript } from './client-bundle.generated.js';
import { configValidatorScript, readConfigForm, renderConfigFields } from './config-form.js';
import { configFormCss } from './config-form-style.js';

const chromiumArgs = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const csp = "default-src 'none'; script-src 'self'; style-src 'self'; form-action 'self'";

const schema = {
  type: 'object',
  required: ['url', 'secret'],
  properties: {
    url: { type: 'string', format: 'uri', pattern: '^https?://', title: 'Endpoint' },
    secret: { type: 'string', minLength: 1, writeOnly: true },
    retries: { type: 'integer', minimum: 0, maximum: 10 },
    verbose: { type: 'boolean' },
    headers: {
      type: 'array',
      items: { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1 }, value: { type: 'string', writeOnly: true } } },
    },
  },
} as ConfigSchema;
const stored = { url: 'https://x.test/in', secret: 'sk-SECRET', retries: 2, headers: [{ name: 'A', value: 'va-SECRET' }, { name: 'B', value: 'vb-SECRET' }] };

let server: Server;
let base: string;
let browser: Browser;
const posts: string[] = [];

beforeAll(async () => {
  server = createServer((request, response) => {
    const send = (type: string, body: string) => {
      response.writeHead(200, { 'content-type': type, 'content-security-policy': csp });
      response.end(body);
    };
    if (request.method === 'POST' && request.url === '/save') {
      let body = '';
      request.setEncoding('utf8');
      request.on('data', (chunk: string) => {
        body += chunk;
      });
      request.on('end', () => {
        posts.push(body);
        send('text/html; charset=utf-8', '<!doctype html><title>saved</title><p id="saved">saved</p>');
      });
      return;
    }
    if (request.url === '/console.js') return send('text/javascript', consoleScript);
    if (request.url === '/validator.js') return send('text/javascript', configValidatorScript(schema));
    if (request.url === '/form.css') return send('text/css', configFormCss);
    send(
      'text/html; charset=utf-8',
      `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>config</title><link rel="stylesheet" href="/form.css"><script src="/console.js" defer></script><script src="/validator.js" defer></script></head><body><form method="post" action="/save" data-config-form novalidate>${renderConfigFields(schema, stored).value}<button type="submit" name="_form" value="save" id="save">Save</button></form></body></html>`,
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: chromiumArgs, headless: true });
});

afterAll(async () => {
  await browser?.close();
  await new Promise((resolve) => server?.close(resolve));
});

const byId = (id: string) => `[id="${id}"]`;

describe('config form in Chromium, under a strict CSP', () => {
  it('validates in the browser, blocks an invalid submit, adds and removes rows, and posts what readConfigForm reads', async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 900 } });
    const page: Page = await context.newPage();
    const problems: string[] = [];
    page.on('console', (message) => {
      if (message.type() === 'error' || message.type() === 'warning') problems.push(`${message.type()}: ${message.text()}`);
    });
    page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`));
    await page.goto(base);
    await page.waitForFunction("document.querySelector('form[data-config-form]')?.hasAttribute('data-config-form-ready')");

    // An invalid value: the error appears next to the field, with the server's markup.
    await page.fill(byId('cf-config.url'), 'ftp://nope');
    await expect.poll(() => page.locator(byId('cf-config.url-error')).isVisible()).toBe(true);
    expect(await page.locator(byId('cf-config.url-error')).textContent()).toBe('must match pattern "^https?://"');
    expect(await page.getAttribute(byId('cf-config.url'), 'aria-invalid')).toBe('true');
    await page.fill(byId('cf-config.retries'), '11');

    // Submit is blocked while invalid, with a summary.
    await page.click('#save');
    await expect.poll(() => page.locator('[data-config-errors]').isVisible()).toBe(true);
    expect(await page.locator('[data-config-errors] li').allTextContents()).toEqual(['url: must match pattern "^https?://"', 'retries: must be <= 10']);
    expect(posts).toEqual([]);
    expect(new URL(page.url()).pathname).toBe('/');

    // Add a row, fill it; remove the first row: the others are renumbered.
    await page.click('button[value="add:config.headers"]');
    await page.fill(byId('cf-config.headers.2.name'), 'C');
    await page.fill(byId('cf-config.headers.2.value'), 'vc-new');
    await page.click('button[value="remove:config.headers.0"]');
    expect(await page.locator('[name^="config.headers."][name$=".name"]').evaluateAll((inputs) => inputs.map((input) => { const field = input as unknown as { name: string; value: string }; return [field.name, field.value]; }))).toEqual([
      ['config.headers.0.name', 'B'],
      ['config.headers.1.name', 'C'],
    ]);
    expect(await page.locator(byId('cf-config.headers.1.value')).count()).toBe(1);
    // An empty required field in the new row is an error too.
    await page.fill(byId('cf-config.headers.1.name'), '');
    await expect.poll(() => page.locator(byId('cf-config.headers.1.name-error')).textContent()).toBe('is required');
    await page.fill(byId('cf-config.headers.1.name'), 'C');

    // Fixed: the form submits, and the server reads the expected config from the body.
    await page.fill(byId('cf-config.url'), 'https://y.test/hook');
    await page.fill(byId('cf-config.retries'), '5');
    await page.check(byId('cf-config.verbose'));
    await expect.poll(() => page.locator('[data-config-errors]').isHidden()).toBe(true);
    await Promise.all([page.waitForURL(`${base}/save`), page.click('#save')]);
    expect(await page.textContent('#saved')).toBe('saved');
    expect(posts).toHaveLength(1);
    const { value, errors } = readConfigForm(schema, new URLSearchParams(posts[0]), stored);
    expect(errors).toEqual([]);
    expect(value).toEqual({
      url: 'https://y.test/hook',
      secret: 'sk-SECRET',
      retries: 5,
      verbose: true,
      headers: [
        { name: 'B', value: 'vb-SECRET' },
        { name: 'C', value: 'vc-new' },
      ],
    });
    expect(problems).toEqual([]);
    await context.close();
  });

  it('fits a 390 px wide screen', async () => {
    const context = await browser.newContext({ viewport: { width: 390, height: 900 } });
    const page = await context.newPage();
    await page.goto(base);
    expect(await page.evaluate('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    await context.close();
  });
});

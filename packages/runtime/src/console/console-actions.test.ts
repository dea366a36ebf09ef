// The console's forms over plain HTTP, as a browser without script would post them: a version change
// (downgrade and back), a config that does not validate (422 with the errors at their fields, nothing
// saved), Add row without script, grants, remove, an install that lacks a grant (the page again with
// the error, the chain unchanged), the tester's refusals, the bulk re-drive, and the HTML error page.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addPlugin, readProject, writeProject } from '../project.js';
import { type RunningRuntime, startRuntime } from '../server.js';
import { type ConsoleClient, signIn } from '../test/console-session.js';
import { fixtures } from '../test/fixtures.js';
import { adminFetch, startReceiver, startTestRegistry, testAdminToken, waitFor } from '../test/helpers.js';

const taggerConfig = {
  type: 'object',
  properties: {
    tag: { type: 'string', title: 'Tag', minLength: 3 },
    rules: { type: 'array', title: 'Rules', items: { type: 'object', properties: { property: { type: 'string', title: 'Property' } }, required: ['property'] } },
  },
  required: ['tag'],
} as const;
const tagger = (version: string) => ({ name: 'tagger', version, config: taggerConfig, code: `export default { processEvent(e, { config }) { e.properties.tag = config.tag + '@${version}'; return e; } };` });

let registry: Awaited<ReturnType<typeof startTestRegistry>>;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let receiverStatus = 400;
let running: RunningRuntime;
let dir: string;
let browser: ConsoleClient;

beforeAll(async () => {
  receiver = await startReceiver(() => receiverStatus);
  registry = await startTestRegistry([
    tagger('1.0.0'),
    tagger('1.1.0'),
    { name: 'hubspot-like', capabilities: ['net:api.hubapi.com'], code: 'export default { processEvent(e) { return e; } };' },
    { name: 'needs-net', capabilities: ['net:api.example.com'], code: 'export default { processEvent(e) { return e; } };' },
    // Refused batches (a 4xx) are dead letters at once: what the exports page re-drives.
    fixtures.exporter,
  ]);
  dir = await mkdtemp(join(tmpdir(), 'plugline-console-actions-'));
  await addPlugin(dir, { name: 'tagger', spec: '^1.0.0', config: { tag: 'abc', rules: [{ property: 'plan' }] }, registryUrl: registry.url });
  await addPlugin(dir, { name: 'hubspot-like', registryUrl: registry.url, grants: ['net:api.hubapi.com'] });
  await addPlugin(dir, { name: 'exporter', registryUrl: registry.url, config: { url: `${receiver.url}/in` }, grants: ['net:127.0.0.1'] });
  const project = await readProject(dir);
  project.plugins.find((entry) => entry.name === 'hubspot-like')!.grants = [];
  await writeProject(dir, project);
  running = await startRuntime({ dir, port: 0, adminToken: testAdminToken, schedule: false, exportTickMs: 20, logger: pino({ level: 'silent' }) });
  browser = await signIn(running.url);
});

afterAll(async () => {
  await running?.close();
  await registry?.close();
  await receiver?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

type Plugins = { plugins: { name: string; version: string; status: string; granted: string[] }[] };
const plugins = async () => ((await (await adminFetch(`${running.url}/api/plugins`)).json()) as Plugins).plugins;
const plugin = async (name: string) => (await plugins()).find((candidate) => candidate.name === name);
/** Follows a console redirect and answers the page it leads to. */
async function landed(answer: Response): Promise<string> {
  expect(answer.status).toBe(303);
  return (await browser.get(answer.headers.get('location')!)).text();
}

describe('console forms without script', () => {
  it('lists the registry’s versions and downgrades and upgrades a plugin, keeping its config; the message shows once', async () => {
    const page = await (await browser.get('/console/plugins/tagger')).text();
    expect(page).toContain('<option value="1.1.0" selected>1.1.0 (latest) · running</option>');
    expect(page).toContain('<option value="1.0.0">1.0.0</option>');
    const down = await landed(await browser.post('/console/plugins/tagger/version', { spec: '1.0.0' }));
    expect(down).toContain('tagger now runs 1.0.0');
    expect(await plugin('tagger')).toMatchObject({ version: '1.0.0', status: 'running' });
    expect((await readProject(dir)).plugins[0]).toMatchObject({ spec: '1.0.0', config: { tag: 'abc' } });
    expect(await (await browser.get('/console/plugins/tagger')).text()).not.toContain('tagger now runs 1.0.0');
    await landed(await browser.post('/console/plugins/tagger/version', { spec: '1.1.0' }));
    expect((await plugin('tagger'))?.version).toBe('1.1.0');
  });

  it('answers 422 with the errors at their fields for a config that does not validate, and saves nothing', async () => {
    const answer = await browser.post('/console/plugins/tagger/config', { _form: 'save', 'config.tag': 'x', '_array.config.rules': '', 'config.rules.0.property': 'plan', '_row.config.rules.0': '0' });
    expect(answer.status).toBe(422);
    const page = await answer.text();
    expect(page).toMatch(/aria-invalid="true"[^>]*name="config\.tag"|name="config\.tag"[^>]*aria-invalid="true"/);
    expect(page).toMatch(/must NOT have fewer than 3 characters/);
    expect((await readProject(dir)).plugins[0]?.config).toEqual({ tag: 'abc', rules: [{ property: 'plan' }] });
  });

  it('adds an array row without script (the form again, one more row, nothing saved), then saves', async () => {
    const added = await browser.post('/console/plugins/tagger/config', { _form: 'add:config.rules', 'config.tag': 'abcd', '_array.config.rules': '', 'config.rules.0.property': 'plan', '_row.config.rules.0': '0' });
    expect(added.status).toBe(200);
    const page = await added.text();
    expect(page).toContain('name="config.rules.1.property"');
    expect((await readProject(dir)).plugins[0]?.config).toEqual({ tag: 'abc', rules: [{ property: 'plan' }] });
    const saved = await landed(
      await browser.post('/console/plugins/tagger/config', { _form: 'save', 'config.tag': 'abcd', '_array.config.rules': '', 'config.rules.0.property': 'plan', '_row.config.rules.0': '0', 'config.rules.1.property': 'country', '_row.config.rules.1': '' }),
    );
    expect(saved).toContain('Config of tagger saved');
    expect((await readProject(dir)).plugins[0]?.config).toEqual({ tag: 'abcd', rules: [{ property: 'plan' }, { property: 'country' }] });
  });

  it('grants a requested capability, which starts the plugin', async () => {
    expect((await plugin('hubspot-like'))?.status).toBe('error');
    const page = await landed(await browser.post('/console/plugins/hubspot-like/grants', { grant: ['net:api.hubapi.com'] }));
    expect(page).toContain('Grants of hubspot-like saved (net:api.hubapi.com); it is running');
    expect(await plugin('hubspot-like')).toMatchObject({ status: 'running', granted: ['net:api.hubapi.com'] });
  });

  it('shows an install that lacks a grant again with the error, and leaves the chain as it was', async () => {
    const before = (await plugins()).map((candidate) => candidate.name);
    const page = await (await browser.get('/console/install/needs-net')).text();
    expect(page).toContain('Grant <code>net:api.example.com</code>');
    const refused = await browser.post('/console/install/needs-net', { _form: 'save', spec: '^1.0.0', position: '0' });
    expect(refused.status).toBe(403);
    expect(await refused.text()).toContain('ERR_CAPABILITY_DENIED');
    expect((await plugins()).map((candidate) => candidate.name)).toEqual(before);
    const installed = await landed(await browser.post('/console/install/needs-net', { _form: 'save', spec: '^1.0.0', position: '0', grant: ['net:api.example.com'] }));
    expect(installed).toContain('needs-net 1.0.0 installed at position 1');
    expect((await plugins()).map((candidate) => candidate.name)).toEqual(['needs-net', ...before]);
    expect((await readProject(dir)).plugins[0]).toMatchObject({ name: 'needs-net', spec: '^1.0.0', grants: ['net:api.example.com'] });
  });

  it('removes a plugin behind its confirmation', async () => {
    const page = await landed(await browser.post('/console/plugins/needs-net/remove'));
    expect(page).toContain('needs-net 1.0.0 removed from the chain');
    expect((await plugins()).map((candidate) => candidate.name)).not.toContain('needs-net');
  });

  it('re-drives every dead letter of a plugin at once', async () => {
    for (const id of ['a', 'b']) {
      await fetch(`${running.url}/capture`, { method: 'POST', body: JSON.stringify({ event: `e-${id}`, distinct_id: id }) });
      await running.runtime.flushExports();
    }
    await waitFor(() => running.runtime.store.deadLetters().length === 2);
    receiverStatus = 200;
    const page = await landed(await browser.post('/console/dead-letters/replay', { plugin: 'exporter' }));
    expect(page).toContain('2 dead letters of exporter re-driven');
    await waitFor(() => receiver.received.filter((request) => request.status === 200).length >= 2);
    expect(running.runtime.store.deadLetters()).toEqual([]);
  });

  it('refuses what the tester cannot run, on the tester page', async () => {
    const notJson = await browser.post('/console/tester', { event: '{ not json', uuid: '' });
    expect(notJson.status).toBe(400);
    expect(await notJson.text()).toContain('The event is not JSON');
    const unknown = await browser.post('/console/tester', { event: '', uuid: '00000000-0000-4000-8000-000000000000' });
    expect(unknown.status).toBe(404);
    expect(await unknown.text()).toContain('ERR_NOT_FOUND');
  });

  it('answers an HTML page with the coded error for a plugin that is not there', async () => {
    const answer = await browser.get('/console/plugins/nope');
    expect(answer.status).toBe(404);
    expect(answer.headers.get('content-type')).toContain('text/html');
    expect(await answer.text()).toContain('ERR_PLUGIN_NOT_INSTALLED');
  });
});

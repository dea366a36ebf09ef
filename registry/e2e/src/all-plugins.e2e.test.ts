import { createHmac } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { RunningRegistry } from '@plugline/registry';
import { type RunningRuntime, addPlugin, readProject, writeProject } from '@plugline/runtime';
import type { PluginEvent } from '@plugline/sdk';
import pg from 'pg';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminInit, registryWithPlugins, startTestRuntime, waitFor } from './harness.js';

// The plugins the other e2e test does not cover, in the same real setting: schema-enforcer (ajv's
// generated code in the isolate), first-time-event (runtime storage), currency-normalizer (a config
// attachment), webhook-export (HMAC over the host fetch) and postgres-export (the postgres capability).
const chain = ['schema-enforcer', 'first-time-event', 'currency-normalizer', 'webhook-export', 'postgres-export'] as const;
const adminToken = 'e2e-admin-token-fedcba9876543210';
const secret = 'whsec_e2e';
const databaseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const table = `plugline_e2e_${process.pid}_${Date.now().toString(36)}`;
const silent = pino({ level: 'silent' });

let root: string;
let registry: RunningRegistry;
let receiver: Server;
let runtime: RunningRuntime | undefined;
const admin = new pg.Pool({ connectionString: databaseUrl, max: 1 });
const deliveries: { status: number; signatureValid: boolean; events: PluginEvent[] }[] = [];
let failNext = 1;


beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'plugline-plugins-e2e-'));
  // Packed by the CLI exactly as `plugline pack` does (one ESM bundle per plugin), then published.
  registry = await registryWithPlugins({ root, names: chain, adminToken, logger: silent });

  // A webhook endpoint that verifies the signature and answers 503 once.
  receiver = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const signatureValid = request.headers['x-plugline-signature'] === `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
      const status = !signatureValid ? 401 : failNext-- > 0 ? 503 : 200;
      deliveries.push({ status, signatureValid, events: (JSON.parse(body) as { events: PluginEvent[] }).events });
      response.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));

  const runtimeDir = path.join(root, 'runtime');
  const configs: Record<(typeof chain)[number], Record<string, unknown>> = {
    'schema-enforcer': {
      schemas: { purchase: { type: 'object', required: ['amount', 'currency'], properties: { amount: { type: 'number', exclusiveMinimum: 0 }, currency: { type: 'string' } } } },
    },
    'first-time-event': { events: ['purchase'], trackFirstEver: false },
    'currency-normalizer': { targetCurrency: 'USD' },
    'webhook-export': { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`, secret },
    'postgres-export': { connectionString: databaseUrl, tableName: table },
  };
  // The runtime refuses loopback by default: the local receiver and database are granted explicitly
  // (postgres-export also requests the postgres capability).
  const grants: Partial<Record<(typeof chain)[number], string[]>> = {
    'webhook-export': [`net:127.0.0.1:${(receiver.address() as AddressInfo).port}`],
    'postgres-export': ['postgres', `net:${new URL(databaseUrl).host}`],
  };
  for (const name of chain) await addPlugin(runtimeDir, { name, spec: '^1.0.0', config: configs[name], registryUrl: registry.url, grants: grants[name] ?? [] });
  // Attachments live beside the config in plugins.json.
  const project = await readProject(runtimeDir);
  const normalizer = project.plugins.find((entry) => entry.name === 'currency-normalizer')!;
  normalizer.attachments = { rates: { content_type: 'text/csv', file_name: 'rates.csv', contents: 'currency,rate\nEUR,0.8\nGBP,0.5\n' } };
  await writeProject(runtimeDir, project);

  runtime = await startTestRuntime({ dir: runtimeDir, registryUrl: registry.url, logger: silent, maxEvents: 10 });
});

afterAll(async () => {
  await runtime?.close();
  await new Promise<void>((resolve) => receiver.close(() => resolve()));
  await registry.close();
  await admin.query(`DROP TABLE IF EXISTS "${table}"`);
  await admin.end();
  await rm(root, { recursive: true, force: true });
});

describe('the other official plugins in the runtime sandbox', () => {
  it('validates, marks first times, converts currencies and exports to a webhook (after a 503) and PostgreSQL', async () => {
    const batch = [
      { uuid: '00000000-0000-4000-8000-000000000001', event: 'purchase', distinct_id: 'ada', properties: { amount: 100, currency: 'EUR' } },
      { uuid: '00000000-0000-4000-8000-000000000002', event: 'purchase', distinct_id: 'ada', properties: { currency: 'EUR' } },
      { uuid: '00000000-0000-4000-8000-000000000003', event: 'purchase', distinct_id: 'ada', properties: { amount: 10, currency: 'GBP' } },
      { uuid: '00000000-0000-4000-8000-000000000004', event: 'purchase', distinct_id: 'bob', properties: { amount: 5, currency: 'CHF' } },
    ];
    const sent = await fetch(`${runtime!.url}/capture`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ batch }) });
    expect(sent.status).toBe(200);

    const stored = await waitFor('stored events', async () => {
      const { events } = (await (await fetch(`${runtime!.url}/api/events?order=asc`, adminInit(runtime!))).json()) as { events: PluginEvent[] };
      return events.length === 3 ? events : undefined;
    });
    const byUuid = new Map(stored.map((event) => [event.uuid.slice(-1), event]));
    // Event 2 (no amount) was dropped by the schema enforcer.
    expect([...byUuid.keys()].sort()).toEqual(['1', '3', '4']);
    expect(byUuid.get('1')?.properties).toMatchObject({ amount: 125, currency: 'USD', original_amount: 100, original_currency: 'EUR', is_first_event_for_user: true });
    expect(byUuid.get('3')?.properties).toMatchObject({ amount: 20, currency: 'USD', original_currency: 'GBP', is_first_event_for_user: false });
    // No CHF rate: the normalizer failed on event 4, which was stored as it came (minus nothing).
    expect(byUuid.get('4')?.properties).toMatchObject({ amount: 5, currency: 'CHF', is_first_event_for_user: true });
    expect(byUuid.get('4')?.properties).not.toHaveProperty('original_amount');

    const delivered = await waitFor('the webhook delivery', async () => {
      const ok = deliveries.filter((delivery) => delivery.status === 200).flatMap((delivery) => delivery.events);
      return ok.length >= 3 ? ok : undefined;
    });
    expect(deliveries[0]?.status).toBe(503);
    expect(deliveries.every((delivery) => delivery.signatureValid)).toBe(true);
    expect(delivered.map((event) => event.uuid).sort()).toEqual(stored.map((event) => event.uuid).sort());

    const rows = await waitFor('the PostgreSQL rows', async () => {
      const exists = await admin.query('SELECT to_regclass($1) AS name', [table]);
      if (!exists.rows[0]?.name) return undefined;
      const result = await admin.query(`SELECT uuid, properties FROM "${table}" ORDER BY uuid`);
      return result.rows.length === 3 ? result.rows : undefined;
    });
    expect(rows.map((row) => row.uuid)).toEqual(stored.map((event) => event.uuid).sort());
    expect(rows[0].properties).toMatchObject({ amount: 125, currency: 'USD' });

    const { plugins } = (await (await fetch(`${runtime!.url}/api/plugins`, adminInit(runtime!))).json()) as {
      plugins: { name: string; status: string; config: Record<string, unknown>; recentErrors: { message: string }[] }[];
    };
    expect(plugins.map((plugin) => [plugin.name, plugin.status])).toEqual(chain.map((name) => [name, 'running']));
    const find = (name: string) => plugins.find((plugin) => plugin.name === name);
    expect(find('currency-normalizer')?.recentErrors.map((error) => error.message).join('\n')).toContain('no rate for currency "CHF"');
    expect(find('webhook-export')?.recentErrors.map((error) => error.message).join('\n')).toMatch(/HTTP 503/);
    expect(find('webhook-export')?.config.secret).toBe('********');
    expect(find('postgres-export')?.config.connectionString).toBe('********');
  });
});

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { schemaLimits } from '@plugline/sdk';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningRegistry, startRegistry } from './index.js';
import { fixtureManifest, packPlugin } from './testing.js';

// Hostile config schemas published to a real registry on port 0: each is refused with a 400 and a
// reason, never a 500, and the registry keeps serving.
const adminToken = 'schema-limits-admin';
let registry: RunningRegistry;
let dataDir: string;

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'plugline-registry-limits-'));
  registry = await startRegistry({ port: 0, dataDir, adminToken, logger: pino({ level: 'silent' }) });
});

afterAll(async () => {
  await registry?.close();
  await rm(dataDir, { recursive: true, force: true });
});

async function publish(name: string, config: unknown): Promise<{ status: number; code?: string; message?: string }> {
  // A config given as JSON text goes in as is (a 5,000-deep object is too deep to stringify in a test).
  const manifest = typeof config === 'string' ? `${JSON.stringify({ ...fixtureManifest(name, '1.0.0'), config: 0 }).slice(0, -1)},"config":${config}}` : fixtureManifest(name, '1.0.0', { config: config as never });
  const body = await packPlugin({ manifest });
  const response = await fetch(`${registry.url}/api/v1/plugins/${name}/1.0.0`, {
    method: 'PUT',
    headers: { 'content-type': 'application/gzip', authorization: `Bearer ${adminToken}` },
    body,
  });
  const answer = (await response.json()) as { error?: { code: string; message: string } };
  return { status: response.status, ...(answer.error ? { code: answer.error.code, message: answer.error.message } : {}) };
}

function nested(depth: number): string {
  return `${'{"type":"object","properties":{"a":'.repeat(depth)}{"type":"string"}${'}}'.repeat(depth)}`;
}

describe('publishing hostile config schemas', () => {
  it('refuses 100,000 properties with 400 ERR_MANIFEST_INVALID, and answers other requests meanwhile', async () => {
    const config = { type: 'object', properties: Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`p${i}`, { type: 'string' }])) };
    const publishing = publish('wide', config);
    const health = await fetch(`${registry.url}/api/v1/search?q=x`);
    expect(health.status).toBeLessThan(500);
    const result = await publishing;
    expect(result).toMatchObject({ status: 400, code: 'ERR_MANIFEST_INVALID' });
    expect(result.message).toContain(`has 100000 properties (the limit is ${schemaLimits.maxProperties})`);
  });

  it('refuses a schema nested 5,000 levels deep with 400 ERR_MANIFEST_INVALID, not 500', async () => {
    const result = await publish('deep', nested(5000));
    expect(result).toMatchObject({ status: 400, code: 'ERR_MANIFEST_INVALID' });
    expect(result.message).toContain(`nested deeper than ${schemaLimits.maxDepth} levels`);
  });

  it('refuses a pattern RE2 cannot run with 400 and says why; accepts "^(a+)+$" (linear in RE2)', async () => {
    const refused = await publish('backref', { type: 'object', properties: { s: { type: 'string', pattern: '^(a)\\1$' } } });
    expect(refused).toMatchObject({ status: 400, code: 'ERR_CONFIG_SCHEMA_INVALID' });
    expect(refused.message).toContain('cannot run in linear time (RE2');
    const accepted = await publish('redos', { type: 'object', properties: { s: { type: 'string', pattern: '^(a+)+$', default: `${'a'.repeat(40)}!` } } });
    expect(accepted.status).toBe(201);
  });
});

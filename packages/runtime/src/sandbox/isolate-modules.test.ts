// The library modules (plugline:*) inside a real isolate, checked against Node's own crypto and zlib.
import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import { createRequire } from 'node:module';
import { deflateSync, gunzipSync, gzipSync, inflateRawSync, inflateSync } from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { createSandboxHost, MemoryCache } from './host.js';
import { ISOLATE_MODULE_NAMES } from './isolate-modules.js';
import { batchEventsJson, PluginSandbox } from './sandbox.js';

// The real jsonwebtoken package (Node), to check tokens across both implementations.
const jwt = createRequire(import.meta.url)('jsonwebtoken') as {
  sign(payload: object, secret: string, options?: object): string;
  verify(token: string, secret: string, options?: object): Record<string, unknown>;
};

const sandboxes: PluginSandbox[] = [];
afterEach(() => {
  for (const s of sandboxes.splice(0)) s.dispose();
});
const event = { uuid: 'u0', event: 'e', distinct_id: 'd0', properties: {}, timestamp: '2026-01-01T00:00:00.000Z' };

async function run(code: string, options: { capabilities?: string[] } = {}): Promise<Record<string, unknown>> {
  const host = createSandboxHost({ sink: { log: () => {}, metric: () => {} }, storage: { get: () => null, set: () => {}, del: () => {} }, cache: new MemoryCache(), postgres: false });
  const s = new PluginSandbox({ name: 'p', version: '1.0.0', integrity: `sha512-${Math.random()}`, code, config: {}, host, timeoutMs: 2000, ...options });
  sandboxes.push(s);
  await s.start();
  const { outcomes, output } = await s.processBatch(JSON.stringify([event]), 1);
  expect(outcomes).toEqual([1]);
  return JSON.parse(batchEventsJson(output))[0].properties;
}

const text = 'The quick brown fox jumps over the lazy dog 🦊';

describe('isolate library modules', () => {
  it('lists the modules the sandbox provides', () => {
    expect(ISOLATE_MODULE_NAMES).toEqual(['aws-sdk', 'buffer', 'crypto', 'events', 'generic-pool', 'jsonwebtoken', 'pg', 'stream', 'url', 'zlib']);
  });

  it('gives Buffer as a global, shared with the buffer module', async () => {
    const out = await run(`import { Buffer as B } from 'plugline:buffer';
      export function processEvent(e) {
        e.properties = {
          same: B === Buffer,
          b64: Buffer.from('user:pass').toString('base64'),
          hex: Buffer.from('ff00', 'hex').toJSON().data,
          utf8: Buffer.from('aGVsbG8gd29ybGQ=', 'base64').toString('utf8'),
          concat: Buffer.concat([Buffer.from('a'), Buffer.from('b')]).toString(),
          isBuffer: Buffer.isBuffer(Buffer.alloc(2)),
          byteLength: Buffer.byteLength('€'),
        };
        return e;
      }`);
    expect(out).toEqual({ same: true, b64: 'dXNlcjpwYXNz', hex: [255, 0], utf8: 'hello world', concat: 'ab', isBuffer: true, byteLength: 3 });
  });

  it('hashes, HMACs and derives keys exactly as Node does', async () => {
    const out = await run(`import crypto, { createHash, createHmac } from 'plugline:crypto';
      export function processEvent(e) {
        const text = ${JSON.stringify(text)};
        e.properties = {
          md5: createHash('md5').update(text).digest('hex'),
          sha1: createHash('sha1').update(text).digest('base64'),
          sha256: createHash('sha256').update(text.slice(0, 10)).update(text.slice(10)).digest('hex'),
          sha512: crypto.createHash('sha512').update(Buffer.from(text)).digest('hex'),
          hmac: createHmac('sha256', 'secret-key').update(text).digest('hex'),
          hmacBuffer: Buffer.isBuffer(createHmac('sha1', Buffer.from('k')).update('x').digest()),
          pbkdf2: crypto.pbkdf2Sync('password', 'salt', 1000, 32, 'sha256').toString('hex'),
          random: crypto.randomBytes(70000).length,
          uuid: /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/.test(crypto.randomUUID()),
          int: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9].map(() => crypto.randomInt(3, 5)).every((n) => n === 3 || n === 4),
          equal: crypto.timingSafeEqual(Buffer.from('ab'), Buffer.from('ab')),
          unknown: (() => { try { createHash('whirlpool'); return 'no error'; } catch (error) { return error.code; } })(),
          cipher: (() => { try { crypto.createCipheriv('aes-256-gcm'); return 'no error'; } catch (error) { return error.code; } })(),
        };
        return e;
      }`);
    expect(out).toEqual({
      md5: createHash('md5').update(text).digest('hex'),
      sha1: createHash('sha1').update(text).digest('base64'),
      sha256: createHash('sha256').update(text).digest('hex'),
      sha512: createHash('sha512').update(text).digest('hex'),
      hmac: createHmac('sha256', 'secret-key').update(text).digest('hex'),
      hmacBuffer: true,
      pbkdf2: pbkdf2Sync('password', 'salt', 1000, 32, 'sha256').toString('hex'),
      random: 70000,
      uuid: true,
      int: true,
      equal: true,
      unknown: 'ERR_CRYPTO_INVALID_DIGEST',
      cipher: 'ERR_FEATURE_UNAVAILABLE_ON_PLATFORM',
    });
  });

  it('compresses and decompresses in formats Node reads and writes', async () => {
    const nodeGzip = gzipSync(text).toString('base64');
    const nodeDeflate = deflateSync(text).toString('base64');
    const out = await run(`import zlib from 'plugline:zlib';
      export async function processEvent(e) {
        const text = ${JSON.stringify(text)};
        const gunzipped = await new Promise((resolve, reject) => zlib.gunzip(Buffer.from(${JSON.stringify(nodeGzip)}, 'base64'), (error, out) => error ? reject(error) : resolve(out)));
        e.properties = {
          gzip: zlib.gzipSync(text, { level: 9 }).toString('base64'),
          deflate: zlib.deflateSync(Buffer.from(text)).toString('base64'),
          raw: zlib.deflateRawSync(text).toString('base64'),
          fromNodeGzip: gunzipped.toString(),
          fromNodeDeflate: zlib.inflateSync(Buffer.from(${JSON.stringify(nodeDeflate)}, 'base64')).toString(),
          unzip: zlib.unzipSync(zlib.gzipSync(text)).toString(),
          bad: (() => { try { zlib.gunzipSync(Buffer.from('not gzip')); return 'no error'; } catch (error) { return error.code; } })(),
        };
        return e;
      }`);
    expect(gunzipSync(Buffer.from(out.gzip as string, 'base64')).toString()).toBe(text);
    expect(inflateSync(Buffer.from(out.deflate as string, 'base64')).toString()).toBe(text);
    expect(inflateRawSync(Buffer.from(out.raw as string, 'base64')).toString()).toBe(text);
    expect(out).toMatchObject({ fromNodeGzip: text, fromNodeDeflate: text, unzip: text, bad: 'Z_DATA_ERROR' });
  });

  it('streams through PassThrough and Transform, and pools with generic-pool', async () => {
    const out = await run(`import { PassThrough, Transform, pipeline } from 'plugline:stream';
      import { createPool } from 'plugline:generic-pool';
      import { EventEmitter } from 'plugline:events';
      import { URL as NodeURL } from 'plugline:url';
      export async function processEvent(e) {
        const pass = new PassThrough();
        const upper = new Transform({ transform(chunk, _enc, done) { done(null, chunk.toString().toUpperCase()); } });
        const chunks = [];
        const finished = new Promise((resolve, reject) => pipeline(pass, upper, async function (source) { for await (const c of source) chunks.push(c.toString()); }, (error) => error ? reject(error) : resolve()));
        pass.write('ab');
        pass.end('cd');
        await finished;
        let created = 0;
        const pool = createPool({ create: async () => ({ id: ++created }), destroy: async () => {} }, { max: 2 });
        const a = await pool.acquire();
        const b = await pool.acquire();
        await pool.release(a);
        const c = await pool.acquire();
        const emitter = new EventEmitter();
        let heard = '';
        emitter.on('x', (value) => { heard = value; });
        emitter.emit('x', 'heard');
        e.properties = { streamed: chunks.join(''), pooled: [a.id, b.id, c.id, created], heard, url: new NodeURL('https://a.test/x?y=1').searchParams.get('y') };
        return e;
      }`);
    expect(out).toEqual({ streamed: 'ABCD', pooled: [1, 2, 1, 2], heard: 'heard', url: '1' });
  });

  it('signs and verifies HS256/HS512 JWTs that the jsonwebtoken package accepts, and rejects forged or expired ones', async () => {
    const fromNode = jwt.sign({ sub: 'node', scope: 'read' }, 'shared-secret', { expiresIn: '1h', issuer: 'plugline' });
    const expired = jwt.sign({ sub: 'old', exp: Math.floor(Date.now() / 1000) - 10 }, 'shared-secret');
    const out = await run(`import jwt, { TokenExpiredError } from 'plugline:jsonwebtoken';
      export function processEvent(e) {
        const attempt = (fn) => { try { return fn(); } catch (error) { return error.name + ': ' + error.message; } };
        e.properties = {
          token256: jwt.sign({ sub: 'isolate', n: 1 }, 'shared-secret', { expiresIn: 600, audience: 'tests' }),
          token512: jwt.sign({ sub: 'isolate' }, 'shared-secret', { algorithm: 'HS512' }),
          verified: jwt.verify(${JSON.stringify(fromNode)}, 'shared-secret', { issuer: 'plugline' }).scope,
          forged: attempt(() => jwt.verify(${JSON.stringify(fromNode)}, 'other-secret')),
          expired: attempt(() => jwt.verify(${JSON.stringify(expired)}, 'shared-secret')),
          expiredClass: (() => { try { jwt.verify(${JSON.stringify(expired)}, 'shared-secret'); } catch (error) { return error instanceof TokenExpiredError; } })(),
          rs256: attempt(() => jwt.sign({}, 'k', { algorithm: 'RS256' })),
          decoded: jwt.decode(${JSON.stringify(fromNode)}, { complete: true }).header.alg,
        };
        return e;
      }`);
    expect(jwt.verify(out.token256 as string, 'shared-secret', { audience: 'tests' })).toMatchObject({ sub: 'isolate', n: 1, aud: 'tests' });
    expect(jwt.verify(out.token512 as string, 'shared-secret', { algorithms: ['HS512'] })).toMatchObject({ sub: 'isolate' });
    expect(() => jwt.verify(out.token256 as string, 'wrong')).toThrow(/invalid signature/);
    expect(out).toMatchObject({
      verified: 'read',
      forged: 'JsonWebTokenError: invalid signature',
      expired: 'TokenExpiredError: jwt expired',
      expiredClass: true,
      rs256: expect.stringContaining('JsonWebTokenError: algorithm RS256 is not available'),
      decoded: 'HS256',
    });
  });

  it("gives pg nothing without the postgres capability, and the internal channel cannot be replaced", async () => {
    const out = await run(`import { Client, Pool } from 'plugline:pg';
      export async function processEvent(e) {
        const key = Symbol.for('plugline.internal');
        const fake = { postgresQuery: async () => ({ rows: [{ hijacked: true }], rowCount: 1 }) };
        const attempt = (fn) => { try { fn(); return 'replaced'; } catch (error) { return error.name; } };
        e.properties = {
          assign: attempt(() => { globalThis[key] = fake; }),
          define: attempt(() => Object.defineProperty(globalThis, key, { value: fake })),
          mutate: attempt(() => { globalThis[key].postgresQuery = fake.postgresQuery; }),
          client: await new Client('postgres://127.0.0.1/x').query('select 1').then(() => 'queried', (error) => error.code),
          pool: await new Pool({ host: '127.0.0.1' }).query('select 1').then(() => 'queried', (error) => error.code),
        };
        return e;
      }`);
    expect(out).toEqual({ assign: 'TypeError', define: 'TypeError', mutate: 'TypeError', client: 'ERR_CAPABILITY_MISSING', pool: 'ERR_CAPABILITY_MISSING' });
  });

  it('refuses an import that is not one of the modules, naming those that are', async () => {
    const host = createSandboxHost({ sink: { log: () => {}, metric: () => {} }, storage: { get: () => null, set: () => {}, del: () => {} }, cache: new MemoryCache(), postgres: false });
    const s = new PluginSandbox({ name: 'p', version: '1.0.0', integrity: `sha512-${Math.random()}`, code: "import 'plugline:fs'; export function processEvent(e) { return e; }", config: {}, host });
    sandboxes.push(s);
    await expect(s.start()).rejects.toMatchObject({ code: 'ERR_PLUGIN_LOAD', message: expect.stringContaining('plugline:crypto') });
  });
});

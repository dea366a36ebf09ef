import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { type IncomingMessage, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isRetryError } from '@plugline/sdk';
import { createEvent, createMeta, runChain } from '@plugline/sdk/testing';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import plugin, { sign } from './index.js';

const secret = 's3cr3t-webhook-key';

interface Received {
  body: string;
  signatureValid: boolean;
  headers: IncomingMessage['headers'];
}

// A real HTTP receiver that verifies the signature as a customer's endpoint would, and answers with the
// statuses queued in `script` (then 200).
let server: Server;
let url: string;
let received: Received[] = [];
let script: number[] = [];

beforeAll(async () => {
  server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const expected = Buffer.from(`sha256=${createHmac('sha256', secret).update(body).digest('hex')}`);
      const actual = Buffer.from(String(request.headers['x-plugline-signature'] ?? ''));
      const signatureValid = actual.length === expected.length && timingSafeEqual(actual, expected);
      received.push({ body, signatureValid, headers: request.headers });
      const status = signatureValid ? (script.shift() ?? 200) : 401;
      response.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : `status ${status}`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/plugline`;
});

afterAll(async () => {
  await new Promise<void>((resolve, reject) => server.close((error) => (error ? reject(error) : resolve())));
});

beforeEach(() => {
  received = [];
  script = [];
});

const exportBatch = (events: ReturnType<typeof createEvent>[], config: Record<string, unknown>) =>
  plugin.exportEvents!(events, createMeta({ config: { headers: {}, ...config } }) as never);

describe('webhook-export', () => {
  it('POSTs the batch as JSON with a signature the receiver verifies, and extra headers', async () => {
    const events = [createEvent({ event: 'a', properties: { n: 1 } }), createEvent({ event: 'b' })];
    const { errors, metas } = await runChain(
      [{ plugin, name: 'webhook-export', config: { url, secret, headers: { Authorization: 'Bearer t' } } }],
      events,
    );
    expect(errors).toEqual([]);
    expect(received).toHaveLength(1);
    const [request] = received;
    expect(request?.signatureValid).toBe(true);
    expect(request?.headers['content-type']).toBe('application/json');
    expect(request?.headers.authorization).toBe('Bearer t');
    expect(request?.headers['x-plugline-event-count']).toBe('2');
    // The same batch always carries the same key (a receiver dedupes a redelivered batch by it).
    expect(request?.headers['idempotency-key']).toMatch(/^[0-9a-f]{64}$/);
    expect(request?.headers['idempotency-key']).toBe(createHash('sha256').update(events.map((event) => event.uuid).join('\n')).digest('hex'));
    expect(JSON.parse(request?.body ?? '')).toEqual({ events });
    expect(metas.get('webhook-export')?.metricValues.get('events_exported')).toBe(2);
  });

  it('throws RetryError on a 503, and the retried batch is delivered with the same signed body', async () => {
    script = [503];
    const events = [createEvent({ event: 'retry-me' })];
    const first = exportBatch(events, { url, secret });
    await expect(first).rejects.toSatisfy(isRetryError);
    await expect(first).rejects.toThrow(`POST ${url} answered HTTP 503: status 503`);
    await exportBatch(events, { url, secret });
    expect(received.map((request) => request.signatureValid)).toEqual([true, true]);
    expect(received[1]?.body).toBe(received[0]?.body);
  });

  it('retries 429 too, and reports a retry through the harness', async () => {
    script = [429];
    const { errors } = await runChain([{ plugin, name: 'webhook-export', version: '1.0.0', config: { url, secret } }], [createEvent()]);
    expect(errors.map((error) => error.message)).toEqual([`webhook-export@1.0.0 exportEvents: retry requested: POST ${url} answered HTTP 429: status 429`]);
  });

  it('treats other 4xx as permanent (not retried), without leaking the secret', async () => {
    const rejected = exportBatch([createEvent()], { url, secret: 'wrong-secret' });
    await expect(rejected).rejects.toThrow(`POST ${url} answered HTTP 401: status 401`);
    await expect(rejected).rejects.not.toSatisfy(isRetryError);
    await expect(rejected).rejects.not.toThrow(/wrong-secret/);
  });

  it('retries when the receiver cannot be reached', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/`;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await expect(exportBatch([createEvent()], { url: deadUrl, secret })).rejects.toSatisfy(isRetryError);
  });

  it('signs exactly like the documented recipe', () => {
    expect(sign('{"events":[]}', 'k')).toBe(`sha256=${createHmac('sha256', 'k').update('{"events":[]}').digest('hex')}`);
  });

  it('requires a url and a secret, and hides the secret in config errors', async () => {
    await expect(runChain([{ plugin, config: { secret } }], [createEvent()])).rejects.toThrow('config.url: is required');
    await expect(runChain([{ plugin, config: { url: 'ftp://x', secret } }], [createEvent()])).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID' });
    await expect(runChain([{ plugin, config: { url, secret: 42 } }], [createEvent()])).rejects.toMatchObject({ code: 'ERR_CONFIG_INVALID' });
  });
});

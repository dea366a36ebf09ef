import { afterEach, describe, expect, it } from 'vitest';
import { createSandboxHost, MemoryCache } from './sandbox/host.js';
import { PluginSandbox, type SandboxHost } from './sandbox/sandbox.js';
import { deliverComposedWebhooks } from './webhooks.js';

const sandboxes: PluginSandbox[] = [];
afterEach(() => {
  for (const s of sandboxes.splice(0)) s.dispose();
});
const event = (n: number, name = 'e') => ({ uuid: `u${n}`, event: name, distinct_id: `d${n}`, properties: { n }, timestamp: '2026-01-01T00:00:00.000Z' });

/** A host whose fetch answers from `answer` and records every request: the path the egress policy guards. */
function recordingHost(answer: (request: { url: string }) => { status: number } | Error) {
  const base = createSandboxHost({ sink: { log: () => {}, metric: () => {} }, storage: { get: () => null, set: () => {}, del: () => {} }, cache: new MemoryCache(), postgres: false });
  const requests: { url: string; method: string; headers: [string, string][]; body: string | null }[] = [];
  const host: SandboxHost = {
    sync: base.sync,
    async: async (op, payload) => {
      if (op !== 'fetch') return base.async(op, payload);
      const request = payload as (typeof requests)[number];
      requests.push(request);
      const result = answer(request);
      if (result instanceof Error) throw result;
      return { status: result.status, statusText: '', url: request.url, headers: [], body: '' };
    },
  };
  return { host, requests };
}

describe('deliverComposedWebhooks', () => {
  it("sends what composeWebhook composes through the plugin's host fetch, retrying 5xx and network errors", async () => {
    let calls = 0;
    const { host, requests } = recordingHost((request) => {
      calls += 1;
      if (request.url.endsWith('/flaky') && calls === 1) return { status: 503 };
      if (request.url.endsWith('/down')) return Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });
      if (request.url.endsWith('/refused')) return { status: 400 };
      return { status: 204 };
    });
    const sandbox = new PluginSandbox({
      name: 'composer',
      version: '1.0.0',
      integrity: `sha512-${Math.random()}`,
      config: {},
      host,
      code: `export function composeWebhook(event) {
        if (event.event === 'skip') return null;
        if (event.event === 'bad') return { method: 'POST' };
        if (event.event === 'throw') throw new RangeError('cannot compose');
        return { url: 'http://hooks.test/' + event.event, method: 'post', headers: { 'X-N': event.properties.n }, body: { n: event.properties.n } };
      }`,
    });
    sandboxes.push(sandbox);
    await sandbox.start();
    const outcomes = await deliverComposedWebhooks(sandbox, [event(0, 'flaky'), event(1, 'skip'), event(2, 'down'), event(3, 'refused'), event(4, 'bad'), event(5, 'throw')], { attempts: 2, delaysMs: [1] });
    expect(outcomes).toEqual([
      { index: 0, status: 'delivered', httpStatus: 204, attempts: 2 },
      { index: 2, status: 'failed', message: 'POST http://hooks.test/down failed: fetch failed (ECONNREFUSED)', attempts: 2, retryable: true, request: expect.objectContaining({ url: 'http://hooks.test/down', method: 'POST' }) },
      { index: 3, status: 'failed', message: 'POST http://hooks.test/refused answered 400', attempts: 1, retryable: false, request: expect.objectContaining({ url: 'http://hooks.test/refused' }) },
      { index: 4, status: 'compose-failed', message: expect.stringContaining('not a webhook'), errorName: 'InvalidResult' },
      { index: 5, status: 'compose-failed', message: 'cannot compose', errorName: 'RangeError' },
    ]);
    // Every request went through the host's fetch service, with the composed method, headers and JSON body.
    expect(requests.filter((request) => request.url.endsWith('/flaky'))).toHaveLength(2);
    expect(requests[0]).toMatchObject({ method: 'POST', headers: [['X-N', '0']], body: '{"n":0}' });
    expect(requests.some((request) => request.url.endsWith('/skip'))).toBe(false);
  });
});

import { type ConfigSchema, attachmentSchema } from '@plugline/sdk';
import { afterEach, describe, expect, it } from 'vitest';
import { setupWithRetries, splitAttachments } from './posthog.js';
import { MemoryCache, createSandboxHost } from './sandbox/host.js';
import { PluginSandbox } from './sandbox/sandbox.js';

const metrics: [string, string, number][] = [];
const logs: string[] = [];
const host = createSandboxHost({
  sink: { log: (_level, message) => void logs.push(message), metric: (kind, name, value) => void metrics.push([kind, name, value]) },
  storage: { get: () => null, set: () => {}, del: () => {} },
  cache: new MemoryCache(),
  postgres: false,
});
const sandboxes: PluginSandbox[] = [];
afterEach(() => {
  for (const sandbox of sandboxes.splice(0)) sandbox.dispose();
});

describe('splitAttachments', () => {
  const schema: ConfigSchema = { type: 'object', properties: { table: attachmentSchema(), label: { type: 'string' } } };

  it('moves x-attachment config values to attachments and out of config', () => {
    const file = { file_name: 'a.csv', content_type: 'text/csv', contents: 'a,b' };
    expect(splitAttachments(schema, { table: file, label: 'x' })).toEqual({ config: { label: 'x' }, attachments: { table: file } });
  });

  it('keeps plugins.json attachments and leaves schemas without attachment fields alone', () => {
    const kept = { table: { file_name: 'k', content_type: 'text/plain', contents: 'k' } };
    expect(splitAttachments(schema, { label: 'x' }, kept)).toEqual({ config: { label: 'x' }, attachments: kept });
    const config = { label: 'x' };
    expect(splitAttachments({ type: 'object', properties: { label: { type: 'string' } } }, config).config).toBe(config);
  });
});

describe('setupWithRetries', () => {
  it('retries after each delay and stops at the first success', async () => {
    let calls = 0;
    const retries: number[] = [];
    const failure = await setupWithRetries(async () => (++calls < 3 ? { message: `fail ${calls}` } : null), [1, 1, 1, 1], (_f, attempt) => retries.push(attempt));
    expect(failure).toBeNull();
    expect(calls).toBe(3);
    expect(retries).toEqual([1, 2]);
  });

  it('answers the last failure once the delays are used up', async () => {
    let calls = 0;
    const failure = await setupWithRetries(async () => ({ message: `fail ${++calls}` }), [1, 1], () => {});
    expect(failure).toEqual({ message: 'fail 3' });
  });
});

describe('PostHog globals and exports in the sandbox', () => {
  it('gives meta.metrics[name] controls for the metrics export and RetryError its PostHog shape', async () => {
    const sandbox = new PluginSandbox({
      name: 'm',
      version: '1.0.0',
      integrity: `sha512-${Math.random()}`,
      config: {},
      host,
      timeoutMs: 500,
      code: `export const metrics = { sent: 'sum', biggest: 'max', smallest: 'min', bogus: 'avg' };
        export function setupPlugin(meta) {
          meta.metrics.sent.increment(2); meta.metrics.biggest.max(7); meta.metrics.smallest.min(3);
          const error = new RetryError('later');
          console.log([typeof meta.metrics.bogus, error.nameWithAttempts, String(error), error._attempt === undefined].join('|'));
          error._attempt = 2; error._maxAttempts = 3;
          console.log(String(error));
        }`,
    });
    sandboxes.push(sandbox);
    await sandbox.start();
    expect(await sandbox.callHook('setupPlugin')).toBeNull();
    expect(metrics).toEqual([
      ['increment', 'sent', 2],
      ['max', 'biggest', 7],
      ['min', 'smallest', 3],
    ]);
    expect(logs).toEqual(['undefined|RetryError|RetryError: later|true', 'RetryError (attempt 2/3): later']);
    expect(sandbox.settings).toEqual({});
  });

  it('reads getSettings().handlesLargeBatches when the sandbox starts, and lists getSettings as a hook', async () => {
    const make = (code: string) => {
      const sandbox = new PluginSandbox({ name: 's', version: '1.0.0', integrity: `sha512-${Math.random()}`, config: {}, host, timeoutMs: 500, code });
      sandboxes.push(sandbox);
      return sandbox;
    };
    const large = make('export const getSettings = () => ({ handlesLargeBatches: true }); export async function exportEvents() {}');
    await large.start();
    expect(large.settings).toEqual({ handlesLargeBatches: true });
    expect(large.hooks.has('getSettings')).toBe(true);
    const throwing = make("export function getSettings() { throw new Error('no'); }");
    await throwing.start();
    expect(throwing.settings).toEqual({});
  });
});

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningRuntime, startRuntime } from './server.js';

// The runtime's request log on a real server: a debug line per request, a warn line with the reason
// (never the body) for a rejected payload.
let dir: string;
let running: RunningRuntime;
const lines: Record<string, unknown>[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'plugline-request-log-'));
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  running = await startRuntime({ dir, port: 0, schedule: false, logger: pino({ level: 'debug' }, sink) });
});
afterAll(async () => {
  await running?.close();
  await rm(dir, { recursive: true, force: true });
});

const waitFor = async (predicate: () => boolean) => {
  for (let i = 0; i < 100 && !predicate(); i++) await new Promise((resolve) => setTimeout(resolve, 10));
};

describe('request log', () => {
  it('logs each request at debug with method, path, status and time, without the query string', async () => {
    const answer = await fetch(`${running.url}/capture?api_key=phc_secret`, { method: 'POST', body: JSON.stringify({ event: 'e', distinct_id: 'u' }) });
    expect(answer.status).toBe(200);
    await waitFor(() => lines.some((line) => line.msg === 'request' && line.path === '/capture'));
    const line = lines.find((entry) => entry.msg === 'request' && entry.path === '/capture');
    expect(line).toMatchObject({ level: 20, method: 'POST', path: '/capture', status: 200, ms: expect.any(Number) });
    expect(JSON.stringify(line)).not.toContain('phc_secret');
  });

  it('logs a rejected payload at warn with the reason and never the body', async () => {
    const body = '{"event": secret-body-marker}';
    const answer = await fetch(`${running.url}/capture`, { method: 'POST', headers: { 'content-type': 'application/json' }, body });
    expect(answer.status).toBe(400);
    await waitFor(() => lines.some((line) => line.msg === 'payload rejected'));
    const line = lines.find((entry) => entry.msg === 'payload rejected');
    expect(line).toMatchObject({ level: 40, method: 'POST', path: '/capture', status: 400, reason: expect.stringMatching(/JSON/) });
    expect(JSON.stringify(lines)).not.toContain('secret-body');
    // Nor does the answer: V8's JSON error quotes the body, the runtime cuts that out.
    expect(JSON.stringify(await answer.json())).not.toContain('secret-body');
  });

  it('logs a batch with malformed events at warn with the per-event reasons', async () => {
    const answer = await fetch(`${running.url}/batch`, { method: 'POST', body: JSON.stringify({ batch: [{ event: 'ok', distinct_id: 'u' }, { distinct_id: 'no-event-name' }] }) });
    expect(answer.status).toBe(400);
    await waitFor(() => lines.filter((line) => line.msg === 'payload rejected').length >= 2);
    const line = lines.filter((entry) => entry.msg === 'payload rejected').at(-1);
    expect(line).toMatchObject({ path: '/batch', status: 400, reason: expect.stringMatching(/1 of 2 events are malformed/) });
  });
});

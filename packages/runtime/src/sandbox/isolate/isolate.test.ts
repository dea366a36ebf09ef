// Unit tests of the in-isolate modules, run in Node against Node's own implementations where the web
// platform defines the behaviour (base64, UTF-8, URLSearchParams).
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createBuffered, MAX_PENDING_LOGS } from './buffered.js';
import { cloneJson } from './clone.js';
import { atob, base64ToBytes, btoa, bytesToBase64, TextDecoder, TextEncoder } from './encoding.js';
import { toHostRequest } from './fetch.js';
import { describe as describeError, pluginOf, toChunks } from './runner.js';
import { URLSearchParams } from './url.js';

describe('isolate encoding', () => {
  it('base64 round-trips random bytes exactly as Node encodes them', () => {
    for (let length = 0; length < 70; length++) {
      const bytes = new Uint8Array(randomBytes(length));
      const encoded = bytesToBase64(bytes);
      expect(encoded).toBe(Buffer.from(bytes).toString('base64'));
      expect([...base64ToBytes(encoded)]).toEqual([...bytes]);
    }
    expect(btoa('hi')).toBe('aGk=');
    expect(atob(' aG\nk= ')).toBe('hi');
    expect(() => atob('a')).toThrow(expect.objectContaining({ name: 'InvalidCharacterError' }));
    expect(() => btoa('€')).toThrow(expect.objectContaining({ name: 'InvalidCharacterError' }));
  });

  it('encodes and decodes UTF-8 as the web platform does, lone surrogates included', () => {
    const samples = ['', 'héllo', '€', '𝄞 clef', 'a\uD800b', '\uDC00', 'mixed ☃ 漢字 🎉'];
    for (const text of samples) {
      const ours = new TextEncoder().encode(text);
      expect([...ours]).toEqual([...new globalThis.TextEncoder().encode(text)]);
      expect(new TextDecoder().decode(ours)).toBe(new globalThis.TextDecoder().decode(ours));
    }
    expect(new TextDecoder().decode(new Uint8Array([0xff, 0x61]))).toBe('\uFFFDa');
    expect(() => new TextDecoder('latin1')).toThrow(RangeError);
  });
});

describe('isolate URLSearchParams', () => {
  it('parses, edits and serialises like Node (WHATWG)', () => {
    const inputs = ['a=1&b=2&a=3', '?q=hello+world&x=%2F%3F', 'empty=&flag', "s=!'()~*"];
    for (const input of inputs) {
      const ours = new URLSearchParams(input);
      const node = new globalThis.URLSearchParams(input);
      expect(ours.toString()).toBe(node.toString());
      ours.set('a', 'z');
      node.set('a', 'z');
      ours.append('new key', 'v&w');
      node.append('new key', 'v&w');
      ours.sort();
      node.sort();
      expect(ours.toString()).toBe(node.toString());
      expect([...ours]).toEqual([...node]);
    }
    expect(new URLSearchParams({ a: 1, b: 'two' }).toString()).toBe('a=1&b=two');
    expect(new URLSearchParams([['x', 'y']]).get('x')).toBe('y');
  });
});

describe('isolate buffered logs and metrics', () => {
  it('sums metrics, keeps log order, flags pending work and flushes when the buffer is full', () => {
    const flag = new Int32Array(new SharedArrayBuffer(12));
    const sent: string[] = [];
    const buffered = createBuffered(flag, (text) => sent.push(text));
    expect(buffered.take()).toBeNull();
    buffered.metric('increment', 'n', 2);
    buffered.metric('increment', 'n', 3);
    buffered.metric('max', 'm', 1);
    buffered.metric('max', 'm', 5);
    buffered.metric('min', 'm', 4);
    buffered.metric('min', 'm', 2);
    buffered.metric('increment', 'nan', Number.NaN);
    buffered.log('info', 'x'.repeat(20_000), { a: 1 });
    expect(flag[2]).toBe(1);
    const taken = JSON.parse(buffered.take()!);
    expect(flag[2]).toBe(0);
    expect(taken.metrics).toEqual([
      ['increment', 'n', 5],
      ['max', 'm', 5],
      ['min', 'm', 2],
    ]);
    expect(taken.logs).toEqual([['info', 'x'.repeat(10_000), '{"a":1}']]);
    for (let i = 0; i <= MAX_PENDING_LOGS; i++) buffered.log('debug', `line ${i}`, undefined);
    expect(sent).toHaveLength(1);
    expect(JSON.parse(sent[0]!).logs).toHaveLength(MAX_PENDING_LOGS);
    expect(() => buffered.log('info', 'big', { n: 1n })).toThrow(TypeError);
  });
});

describe('isolate helpers', () => {
  it('clones with JSON semantics', () => {
    expect(cloneJson({ a: [1, undefined, () => 1], b: undefined, d: new Date(0), n: null })).toEqual({ a: [1, null, null], d: '1970-01-01T00:00:00.000Z', n: null });
  });

  it('chunks lines near 32K characters and describes thrown values', () => {
    const lines = Array.from({ length: 100 }, () => 'x'.repeat(1000));
    const chunks = toChunks('head', lines);
    expect(chunks[0]).toBe('head');
    expect(chunks.slice(1).join('\n')).toBe(lines.join('\n'));
    expect(chunks.slice(1).every((chunk) => chunk.length < 34_000)).toBe(true);
    expect(describeError(new RangeError('r'))).toEqual({ message: 'r', errorName: 'RangeError' });
    expect(describeError('text')).toEqual({ message: 'text', errorName: 'string' });
    expect(describeError({ message: 'm' })).toEqual({ message: 'm', errorName: 'Error' });
  });

  it('finds the plugin on the default export, else the named exports', () => {
    const hook = () => {};
    expect(pluginOf({ default: { processEvent: hook } })).toEqual({ processEvent: hook });
    expect(pluginOf({ processEvent: hook })).toEqual({ processEvent: hook });
  });

  it('turns fetch arguments into the host request shape', () => {
    class FakeUrl {
      href = 'https://x.test/a';
    }
    expect(toHostRequest(new FakeUrl(), { method: 'post', headers: { 'X-A': '1' }, body: new URLSearchParams('a=1') }, FakeUrl)).toEqual({
      url: 'https://x.test/a',
      method: 'POST',
      headers: [
        ['x-a', '1'],
        ['content-type', 'application/x-www-form-urlencoded;charset=UTF-8'],
      ],
      body: 'a=1',
      bodyBase64: null,
    });
    expect(toHostRequest('https://x.test/', { body: new Uint8Array([104, 105]) }, FakeUrl)).toMatchObject({ method: 'GET', body: null, bodyBase64: 'aGk=' });
  });
});

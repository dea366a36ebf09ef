import { describe, expect, it } from 'vitest';
import { fnv1a32, partitionOf } from './partition.js';

describe('partitionOf', () => {
  it('hashes with 32-bit FNV-1a (published test vectors)', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });

  it('maps every distinct_id to the same partition every time, spread over all partitions', () => {
    const counts = new Array<number>(16).fill(0);
    for (let i = 0; i < 10_000; i++) {
      const partition = partitionOf(`user-${i}`, 16);
      expect(partition).toBe(partitionOf(`user-${i}`, 16));
      expect(partition).toBeGreaterThanOrEqual(0);
      expect(partition).toBeLessThan(16);
      counts[partition]! += 1;
    }
    // 625 expected per partition; a working hash stays well inside this band.
    for (const count of counts) expect(count).toBeGreaterThan(450);
    expect(partitionOf('é-ü-漢字', 7)).toBe(fnv1a32('é-ü-漢字') % 7);
  });

  it('rejects a partition count that is not a positive integer', () => {
    expect(() => partitionOf('x', 0)).toThrow(RangeError);
    expect(() => partitionOf('x', 1.5)).toThrow(RangeError);
  });
});

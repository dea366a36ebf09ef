const encoder = new TextEncoder();

/**
 * 32-bit FNV-1a hash of a string's UTF-8 bytes. Stable across processes, Node versions and machines,
 * which is what partitioning needs (unlike anything seeded per process).
 */
export function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of encoder.encode(text)) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/**
 * The partition (0 .. partitions-1) that a `distinct_id` maps to. Every event of one person lands in the
 * same partition, and so on the same subject, which is what keeps that person's events in order.
 */
export function partitionOf(distinctId: string, partitions: number): number {
  if (!Number.isInteger(partitions) || partitions < 1) {
    throw new RangeError(`partitions must be a positive integer, got ${partitions}`);
  }
  return fnv1a32(distinctId) % partitions;
}

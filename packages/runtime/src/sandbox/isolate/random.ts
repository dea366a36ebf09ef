import { base64ToBytes, DOMException } from './encoding.js';

/** The web `crypto.getRandomValues` and `crypto.randomUUID`, the bytes from the host's CSPRNG (`random`). */
export function createRandom(callSync: (op: string, payload: unknown) => string) {
  function getRandomValues<T extends ArrayBufferView | null>(array: T): T {
    if (!ArrayBuffer.isView(array)) throw new TypeError('getRandomValues expects a typed array');
    if (array.byteLength > 65536) throw new DOMException('Quota exceeded', 'QuotaExceededError');
    const bytes = base64ToBytes(callSync('random', array.byteLength));
    new Uint8Array(array.buffer, array.byteOffset, array.byteLength).set(bytes);
    return array;
  }
  function randomUUID(): string {
    const b = getRandomValues(new Uint8Array(16));
    b[6] = (b[6]! & 0x0f) | 0x40;
    b[8] = (b[8]! & 0x3f) | 0x80;
    const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }
  return { getRandomValues, randomUUID };
}

/**
 * Node's `crypto` as far as plugins use it, over @noble/hashes (audited, pure JS): createHash and
 * createHmac (md5, sha1, sha224, sha256, sha384, sha512, sha512-256, ripemd160), pbkdf2Sync/pbkdf2,
 * randomBytes, randomUUID, randomInt, getRandomValues (from the host's CSPRNG) and timingSafeEqual.
 * Digests come back as the isolate's Buffer, or as a string in 'hex', 'base64', 'base64url', 'latin1'.
 * No ciphers, signatures or key objects: a plugin calling them gets a clear error.
 */
import { hmac } from '@noble/hashes/hmac.js';
import { md5, ripemd160, sha1 } from '@noble/hashes/legacy.js';
import { pbkdf2 as noblePbkdf2 } from '@noble/hashes/pbkdf2.js';
import { sha224, sha256, sha384, sha512, sha512_256 } from '@noble/hashes/sha2.js';
import { Buffer } from './buffer-shim.js';

interface NobleHash {
  update(data: Uint8Array): NobleHash;
  digest(): Uint8Array;
  clone?(): NobleHash;
}
type HashFn = ((message: Uint8Array) => Uint8Array) & { create(): NobleHash; outputLen: number; blockLen: number };

const HASHES: Record<string, HashFn> = {
  md5: md5 as unknown as HashFn,
  sha1: sha1 as unknown as HashFn,
  sha224: sha224 as unknown as HashFn,
  sha256: sha256 as unknown as HashFn,
  sha384: sha384 as unknown as HashFn,
  sha512: sha512 as unknown as HashFn,
  'sha512-256': sha512_256 as unknown as HashFn,
  ripemd160: ripemd160 as unknown as HashFn,
};
const ALIASES: Record<string, string> = { 'rsa-sha256': 'sha256', 'rsa-sha1': 'sha1', 'sha-1': 'sha1', 'sha-256': 'sha256', 'sha-384': 'sha384', 'sha-512': 'sha512', rmd160: 'ripemd160' };

function hashFn(algorithm: unknown): HashFn {
  const name = String(algorithm).toLowerCase();
  const fn = HASHES[ALIASES[name] ?? name];
  if (!fn) throw Object.assign(new Error(`Digest method not supported: ${String(algorithm)}`), { code: 'ERR_CRYPTO_INVALID_DIGEST' });
  return fn;
}

type BinaryLike = string | ArrayBuffer | ArrayBufferView;

function toBytes(data: unknown, encoding?: unknown): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data, ((encoding as string | undefined) ?? 'utf8') as 'utf8');
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw Object.assign(new TypeError('The "data" argument must be of type string or an instance of Buffer, TypedArray, or DataView.'), { code: 'ERR_INVALID_ARG_TYPE' });
}

function output(bytes: Uint8Array, encoding: unknown): Buffer | string {
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (encoding === undefined || encoding === 'buffer') return buffer;
  if (encoding === 'base64url') return buffer.toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
  return buffer.toString(String(encoding) as 'hex');
}

/** `crypto.createHash(algorithm)`: update(data, inputEncoding?) any number of times, then digest(encoding?). */
/** What Hash and Hmac share: `update` until `digest`, once (Node's ERR_CRYPTO_HASH_FINALIZED after). */
class Digester {
  readonly #state: NobleHash;
  #done = false;
  constructor(state: NobleHash) {
    this.#state = state;
  }
  update(data: BinaryLike, inputEncoding?: string): this {
    if (this.#done) throw Object.assign(new Error('Digest already called'), { code: 'ERR_CRYPTO_HASH_FINALIZED' });
    this.#state.update(toBytes(data, inputEncoding));
    return this;
  }
  digest(encoding?: string): Buffer | string {
    if (this.#done) throw Object.assign(new Error('Digest already called'), { code: 'ERR_CRYPTO_HASH_FINALIZED' });
    this.#done = true;
    return output(this.#state.digest(), encoding);
  }
  /** A copy of the running state (for Hash#copy), or undefined when the hash cannot be cloned. */
  protected cloneState(): NobleHash | undefined {
    return this.#state.clone?.();
  }
}

export class Hash extends Digester {
  constructor(algorithm: unknown, state?: NobleHash) {
    super(state ?? hashFn(algorithm).create());
  }
  copy(): Hash {
    const state = this.cloneState();
    if (!state) throw new Error('copy is not supported for this hash');
    return new Hash('', state);
  }
}

/** `crypto.createHmac(algorithm, key)`. */
export class Hmac extends Digester {
  constructor(algorithm: unknown, key: BinaryLike) {
    super((hmac as unknown as { create(hash: HashFn, key: Uint8Array): NobleHash }).create(hashFn(algorithm), toBytes(key)));
  }
}

export function createHash(algorithm: string): Hash {
  return new Hash(algorithm);
}
export function createHmac(algorithm: string, key: BinaryLike): Hmac {
  return new Hmac(algorithm, key);
}
/** The algorithms createHash and createHmac accept. */
export function getHashes(): string[] {
  return Object.keys(HASHES);
}

const cryptoGlobal = (globalThis as unknown as { crypto: { getRandomValues<T extends ArrayBufferView>(array: T): T; randomUUID(): string } }).crypto;
const getRandom = cryptoGlobal.getRandomValues;
const uuid = cryptoGlobal.randomUUID;

/** Fills `array` from the host's CSPRNG (at most 65536 bytes per call, like the web's). */
export function getRandomValues<T extends ArrayBufferView>(array: T): T {
  return getRandom(array);
}
export function randomUUID(): string {
  return uuid();
}
function randomFill(bytes: Uint8Array): void {
  for (let offset = 0; offset < bytes.length; offset += 65536) getRandom(bytes.subarray(offset, Math.min(bytes.length, offset + 65536)));
}
/** `randomBytes(size)` or `randomBytes(size, callback)` (the callback on the microtask queue). */
export function randomBytes(size: number, callback?: (error: Error | null, bytes?: Buffer) => void): Buffer | undefined {
  if (!Number.isInteger(size) || size < 0 || size > 2 ** 31 - 1) {
    throw Object.assign(new RangeError(`The value of "size" is out of range. Received ${String(size)}`), { code: 'ERR_OUT_OF_RANGE' });
  }
  const bytes = Buffer.alloc(size);
  randomFill(bytes);
  if (!callback) return bytes;
  Promise.resolve().then(() => callback(null, bytes));
  return undefined;
}
/** An integer in [min, max) (`randomInt(max)` for [0, max)), without modulo bias. */
export function randomInt(minOrMax: number, maybeMax?: number): number {
  const min = maybeMax === undefined ? 0 : minOrMax;
  const max = maybeMax === undefined ? minOrMax : maybeMax;
  if (!Number.isSafeInteger(min) || !Number.isSafeInteger(max) || max <= min || max - min > 2 ** 48) {
    throw Object.assign(new RangeError('randomInt: min and max must be safe integers, max > min, range <= 2^48'), { code: 'ERR_OUT_OF_RANGE' });
  }
  const range = max - min;
  const limit = 2 ** 48 - (2 ** 48 % range);
  const bytes = new Uint8Array(6);
  for (;;) {
    randomFill(bytes);
    const value = bytes.reduce((sum, byte) => sum * 256 + byte, 0);
    if (value < limit) return min + (value % range);
  }
}
/** Constant-time comparison of two equally long byte arrays. */
export function timingSafeEqual(a: ArrayBufferView, b: ArrayBufferView): boolean {
  const x = toBytes(a);
  const y = toBytes(b);
  if (x.length !== y.length) throw Object.assign(new RangeError('Input buffers must have the same byte length'), { code: 'ERR_CRYPTO_TIMING_SAFE_EQUAL_LENGTH' });
  let diff = 0;
  for (let i = 0; i < x.length; i++) diff |= x[i]! ^ y[i]!;
  return diff === 0;
}
export function pbkdf2Sync(password: BinaryLike, salt: BinaryLike, iterations: number, keylen: number, digest: string): Buffer {
  const bytes = noblePbkdf2(hashFn(digest) as never, toBytes(password), toBytes(salt), { c: iterations, dkLen: keylen });
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
export function pbkdf2(password: BinaryLike, salt: BinaryLike, iterations: number, keylen: number, digest: string, callback: (error: Error | null, key?: Buffer) => void): void {
  Promise.resolve().then(() => {
    let key: Buffer;
    try {
      key = pbkdf2Sync(password, salt, iterations, keylen, digest);
    } catch (error) {
      callback(error as Error);
      return;
    }
    callback(null, key);
  });
}

function unsupported(name: string) {
  return () => {
    throw Object.assign(new Error(`crypto.${name} is not available in the Plugline sandbox (hashes, HMAC, pbkdf2 and random values are)`), { code: 'ERR_FEATURE_UNAVAILABLE_ON_PLATFORM' });
  };
}
export const createCipheriv = unsupported('createCipheriv');
export const createDecipheriv = unsupported('createDecipheriv');
export const createSign = unsupported('createSign');
export const createVerify = unsupported('createVerify');
export const generateKeyPairSync = unsupported('generateKeyPairSync');
export const createPrivateKey = unsupported('createPrivateKey');
export const createPublicKey = unsupported('createPublicKey');
export const webcrypto = { getRandomValues, randomUUID };

export default {
  Hash,
  Hmac,
  createHash,
  createHmac,
  getHashes,
  getRandomValues,
  randomUUID,
  randomBytes,
  randomInt,
  timingSafeEqual,
  pbkdf2Sync,
  pbkdf2,
  createCipheriv,
  createDecipheriv,
  createSign,
  createVerify,
  generateKeyPairSync,
  createPrivateKey,
  createPublicKey,
  webcrypto,
};

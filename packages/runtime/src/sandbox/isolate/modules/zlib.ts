/**
 * Node's `zlib` buffer API over fflate (pure JS, tested against zlib): gzip/gunzip, deflate/inflate
 * (zlib format), deflateRaw/inflateRaw and unzip (gzip or zlib), each as `xxxSync(data, options?)` and
 * as `xxx(data, options?, callback)` (the callback on the microtask queue: a bare isolate has no
 * worker threads). Results are the isolate's Buffer. No streaming classes (createGzip...) and no
 * brotli: calling them throws a clear error.
 */
import { decompressSync, deflateSync as rawDeflate, gunzipSync as fflateGunzip, gzipSync as fflateGzip, inflateSync as rawInflate, unzlibSync, zlibSync } from 'fflate';
import { Buffer } from './buffer-shim.js';

interface ZlibOptions {
  level?: number;
  memLevel?: number;
}
type Input = string | ArrayBuffer | ArrayBufferView;
type Callback = (error: Error | null, result?: Buffer) => void;

function toBytes(data: Input): Uint8Array {
  if (typeof data === 'string') return Buffer.from(data, 'utf8');
  if (data instanceof Uint8Array) return data;
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw Object.assign(new TypeError('The "buffer" argument must be of type string or an instance of Buffer, TypedArray, DataView, or ArrayBuffer.'), { code: 'ERR_INVALID_ARG_TYPE' });
}
function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
function level(options?: ZlibOptions): { level?: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 } {
  const value = options?.level;
  if (value === undefined || value === -1) return {};
  if (!Number.isInteger(value) || value < 0 || value > 9) throw Object.assign(new RangeError(`The value of "options.level" is out of range. Received ${String(value)}`), { code: 'ERR_OUT_OF_RANGE' });
  return { level: value as 0 };
}
/** fflate's errors as Node's zlib ones: `Z_DATA_ERROR` for bad input. */
function run(operation: () => Uint8Array): Buffer {
  try {
    return toBuffer(operation());
  } catch (error) {
    throw Object.assign(new Error((error as Error).message || 'invalid data'), { code: 'Z_DATA_ERROR', errno: -3 });
  }
}

export const gzipSync = (data: Input, options?: ZlibOptions): Buffer => run(() => fflateGzip(toBytes(data), level(options)));
export const gunzipSync = (data: Input): Buffer => run(() => fflateGunzip(toBytes(data)));
export const deflateSync = (data: Input, options?: ZlibOptions): Buffer => run(() => zlibSync(toBytes(data), level(options)));
export const inflateSync = (data: Input): Buffer => run(() => unzlibSync(toBytes(data)));
export const deflateRawSync = (data: Input, options?: ZlibOptions): Buffer => run(() => rawDeflate(toBytes(data), level(options)));
export const inflateRawSync = (data: Input): Buffer => run(() => rawInflate(toBytes(data)));
/** gzip or zlib, detected from the header (Node's unzip). */
export const unzipSync = (data: Input): Buffer => run(() => decompressSync(toBytes(data)));

function async(sync: (data: Input, options?: ZlibOptions) => Buffer) {
  return (data: Input, optionsOrCallback?: ZlibOptions | Callback, maybeCallback?: Callback): void => {
    const callback = typeof optionsOrCallback === 'function' ? optionsOrCallback : maybeCallback;
    const options = typeof optionsOrCallback === 'function' ? undefined : optionsOrCallback;
    if (typeof callback !== 'function') throw Object.assign(new TypeError('The "callback" argument must be of type function'), { code: 'ERR_INVALID_ARG_TYPE' });
    Promise.resolve().then(() => {
      let result: Buffer;
      try {
        result = sync(data, options);
      } catch (error) {
        callback(error as Error);
        return;
      }
      callback(null, result);
    });
  };
}
export const gzip = async(gzipSync);
export const gunzip = async(gunzipSync);
export const deflate = async(deflateSync);
export const inflate = async(inflateSync);
export const deflateRaw = async(deflateRawSync);
export const inflateRaw = async(inflateRawSync);
export const unzip = async(unzipSync);

function unsupported(name: string) {
  return () => {
    throw Object.assign(new Error(`zlib.${name} is not available in the Plugline sandbox (use the buffer functions: gzipSync, gunzip, ...)`), { code: 'ERR_FEATURE_UNAVAILABLE_ON_PLATFORM' });
  };
}
export const createGzip = unsupported('createGzip');
export const createGunzip = unsupported('createGunzip');
export const createDeflate = unsupported('createDeflate');
export const createInflate = unsupported('createInflate');
export const brotliCompressSync = unsupported('brotliCompressSync');
export const brotliDecompressSync = unsupported('brotliDecompressSync');
export const constants = { Z_NO_COMPRESSION: 0, Z_BEST_SPEED: 1, Z_BEST_COMPRESSION: 9, Z_DEFAULT_COMPRESSION: -1 };

export default {
  gzipSync,
  gunzipSync,
  deflateSync,
  inflateSync,
  deflateRawSync,
  inflateRawSync,
  unzipSync,
  gzip,
  gunzip,
  deflate,
  inflate,
  deflateRaw,
  inflateRaw,
  unzip,
  createGzip,
  createGunzip,
  createDeflate,
  createInflate,
  brotliCompressSync,
  brotliDecompressSync,
  constants,
};

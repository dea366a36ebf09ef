// Stands for the npm `buffer` package inside the library modules: the one Buffer class of the
// isolate (the prelude's global), so Buffer.isBuffer holds across crypto, zlib and stream.
export const Buffer = (globalThis as unknown as { Buffer: typeof import('buffer').Buffer }).Buffer;
export const kMaxLength = 0x7fffffff;
export default { Buffer, kMaxLength };

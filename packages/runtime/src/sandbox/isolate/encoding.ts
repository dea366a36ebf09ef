/** base64, atob/btoa, DOMException and UTF-8 TextEncoder/TextDecoder for a bare isolate. */

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_LOOKUP = new Uint8Array(256).fill(255);
for (let i = 0; i < 64; i++) B64_LOOKUP[B64.charCodeAt(i)] = i;

/** The web platform's DOMException, as far as the globals here throw it. */
export class DOMException extends Error {
  constructor(message = '', name = 'Error') {
    super(message);
    this.name = name;
  }
}

/** Standard base64 (with padding) of some bytes. */
export function bytesToBase64(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += B64[n >> 18]! + B64[(n >> 12) & 63]! + B64[(n >> 6) & 63]! + B64[n & 63]!;
  }
  if (i < bytes.length) {
    const n = (bytes[i]! << 16) | ((i + 1 < bytes.length ? bytes[i + 1]! : 0) << 8);
    out += `${B64[n >> 18]!}${B64[(n >> 12) & 63]!}${i + 1 < bytes.length ? B64[(n >> 6) & 63]! : '='}=`;
  }
  return out;
}

/** The bytes of standard base64 (whitespace and padding ignored); throws DOMException InvalidCharacterError. */
export function base64ToBytes(text: string): Uint8Array {
  const clean = String(text)
    .replace(/[\t\n\f\r ]/g, '')
    .replace(/=+$/, '');
  if (clean.length % 4 === 1) throw new DOMException('The string to be decoded is not correctly encoded.', 'InvalidCharacterError');
  const bytes = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let buffer = 0;
  let bits = 0;
  let o = 0;
  for (let i = 0; i < clean.length; i++) {
    const v = B64_LOOKUP[clean.charCodeAt(i)];
    if (v === 255 || v === undefined) throw new DOMException('The string to be decoded is not correctly encoded.', 'InvalidCharacterError');
    buffer = (buffer << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      bytes[o++] = (buffer >> bits) & 255;
    }
  }
  return bytes.subarray(0, o);
}

/** The web `btoa`: base64 of a string of Latin-1 characters. */
export function btoa(input: unknown): string {
  const text = String(input);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 255) throw new DOMException('Invalid character', 'InvalidCharacterError');
    bytes[i] = c;
  }
  return bytesToBase64(bytes);
}

/** The web `atob`: the Latin-1 string of base64. */
export function atob(input: unknown): string {
  const bytes = base64ToBytes(String(input));
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += String.fromCharCode(bytes[i]!);
  return out;
}

/** UTF-8 only; lone surrogates become U+FFFD. */
export class TextEncoder {
  get encoding(): string {
    return 'utf-8';
  }
  encode(input: unknown = ''): Uint8Array {
    const text = String(input);
    const out: number[] = [];
    for (let i = 0; i < text.length; i++) {
      let c = text.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
        const d = text.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) {
          c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
          i++;
        } else c = 0xfffd;
      } else if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
      if (c < 0x80) out.push(c);
      else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
      else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
      else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    }
    return new Uint8Array(out);
  }
}

/** UTF-8 only; invalid sequences become U+FFFD. */
export class TextDecoder {
  constructor(label: unknown = 'utf-8') {
    if (!/^utf-?8$/i.test(String(label))) throw new RangeError('Only utf-8 is supported');
  }
  get encoding(): string {
    return 'utf-8';
  }
  decode(input?: ArrayBuffer | ArrayBufferView): string {
    if (input === undefined) return '';
    const bytes = input instanceof ArrayBuffer ? new Uint8Array(input) : new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    let out = '';
    for (let i = 0; i < bytes.length; ) {
      const b = bytes[i]!;
      let c = 0xfffd;
      let n = 1;
      if (b < 0x80) c = b;
      else if (b >= 0xc2 && b < 0xe0 && i + 1 < bytes.length) {
        c = ((b & 31) << 6) | (bytes[i + 1]! & 63);
        n = 2;
      } else if (b >= 0xe0 && b < 0xf0 && i + 2 < bytes.length) {
        c = ((b & 15) << 12) | ((bytes[i + 1]! & 63) << 6) | (bytes[i + 2]! & 63);
        n = 3;
      } else if (b >= 0xf0 && b < 0xf5 && i + 3 < bytes.length) {
        c = ((b & 7) << 18) | ((bytes[i + 1]! & 63) << 12) | ((bytes[i + 2]! & 63) << 6) | (bytes[i + 3]! & 63);
        n = 4;
      }
      out += String.fromCodePoint(c);
      i += n;
    }
    return out;
  }
}

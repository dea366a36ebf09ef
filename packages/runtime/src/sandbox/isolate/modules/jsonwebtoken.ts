/**
 * The `jsonwebtoken` API (sign, verify, decode and its error classes) for the HMAC algorithms HS256,
 * HS384 and HS512, over @noble/hashes. RSA and ECDSA (RS*, ES*, PS*) need key objects the sandbox does
 * not have: signing or verifying with them throws a JsonWebTokenError saying so. Claims as the library
 * checks them: `exp`, `nbf` (with `clockTolerance`), `iat`; options `expiresIn`/`notBefore` (seconds or
 * '10m', '2h', '7d'), `audience`, `issuer`, `subject`, `jwtid`, `algorithms`, `ignoreExpiration`,
 * `complete`. Callbacks, when given, are called on the microtask queue.
 */
import { hmac } from '@noble/hashes/hmac.js';
import { sha256, sha384, sha512 } from '@noble/hashes/sha2.js';
import { Buffer } from './buffer-shim.js';

const HMACS: Record<string, Parameters<typeof hmac>[0]> = { HS256: sha256, HS384: sha384, HS512: sha512 };

export class JsonWebTokenError extends Error {
  inner: unknown;
  constructor(message: string, inner?: unknown) {
    super(message);
    this.name = 'JsonWebTokenError';
    this.inner = inner;
  }
}
export class TokenExpiredError extends JsonWebTokenError {
  expiredAt: Date;
  constructor(message: string, expiredAt: Date) {
    super(message);
    this.name = 'TokenExpiredError';
    this.expiredAt = expiredAt;
  }
}
export class NotBeforeError extends JsonWebTokenError {
  date: Date;
  constructor(message: string, date: Date) {
    super(message);
    this.name = 'NotBeforeError';
    this.date = date;
  }
}

function base64url(bytes: Uint8Array | string): string {
  const buffer = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return buffer.toString('base64').replace(/=+$/, '').replace(/\+/g, '-').replace(/\//g, '_');
}
function fromBase64url(text: string): Buffer {
  return Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64');
}
function secretBytes(secret: unknown): Uint8Array {
  if (typeof secret === 'string') return Buffer.from(secret, 'utf8');
  if (secret instanceof Uint8Array) return secret;
  throw new JsonWebTokenError('secretOrPrivateKey must be a string or a Buffer (HS256, HS384 and HS512 only in the Plugline sandbox)');
}
function signature(algorithm: string, input: string, secret: unknown): string {
  const hash = HMACS[algorithm];
  if (!hash) throw new JsonWebTokenError(`algorithm ${algorithm} is not available in the Plugline sandbox (HS256, HS384 and HS512 are)`);
  return base64url(hmac(hash, secretBytes(secret), Buffer.from(input, 'utf8')));
}

const UNITS: Record<string, number> = { ms: 0.001, s: 1, sec: 1, second: 1, m: 60, min: 60, minute: 60, h: 3600, hr: 3600, hour: 3600, d: 86400, day: 86400, w: 604800, week: 604800, y: 31557600, year: 31557600 };
/** Seconds of `expiresIn`/`notBefore`: a number of seconds or a string like '90', '10m', '2 hours'. */
function seconds(value: unknown, option: string): number {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  const match = typeof value === 'string' ? /^\s*(-?\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value) : null;
  const unit = match ? (match[2] ?? '').toLowerCase().replace(/s$/, '') : '';
  const factor = unit === '' ? (match ? 0.001 : undefined) : UNITS[unit];
  if (!match || factor === undefined) throw new JsonWebTokenError(`"${option}" should be a number of seconds or a string representing a timespan`);
  // A bare numeric string is milliseconds in jsonwebtoken (vercel/ms), a number is seconds.
  return Math.floor(Number(match[1]) * factor);
}

interface SignOptions {
  algorithm?: string;
  expiresIn?: number | string;
  notBefore?: number | string;
  audience?: string | string[];
  issuer?: string;
  subject?: string;
  jwtid?: string;
  keyid?: string;
  header?: Record<string, unknown>;
  noTimestamp?: boolean;
}
type Callback<T> = (error: Error | null, value?: T) => void;

function later<T>(callback: Callback<T>, work: () => T): void {
  Promise.resolve().then(() => {
    let value: T;
    try {
      value = work();
    } catch (error) {
      callback(error as Error);
      return;
    }
    callback(null, value);
  });
}

export function sign(payload: string | Record<string, unknown>, secret: unknown, optionsOrCallback?: SignOptions | Callback<string>, maybeCallback?: Callback<string>): string | undefined {
  const callback = typeof optionsOrCallback === 'function' ? optionsOrCallback : maybeCallback;
  const options = (typeof optionsOrCallback === 'function' ? undefined : optionsOrCallback) ?? {};
  const work = () => {
    const algorithm = options.algorithm ?? 'HS256';
    const header = { alg: algorithm, typ: 'JWT', ...(options.keyid ? { kid: options.keyid } : {}), ...options.header };
    let body: string;
    if (typeof payload === 'string') body = payload;
    else {
      const claims: Record<string, unknown> = { ...payload };
      const now = typeof claims.iat === 'number' ? claims.iat : Math.floor(Date.now() / 1000);
      if (!options.noTimestamp) claims.iat = now;
      if (options.expiresIn !== undefined) claims.exp = now + seconds(options.expiresIn, 'expiresIn');
      if (options.notBefore !== undefined) claims.nbf = now + seconds(options.notBefore, 'notBefore');
      if (options.audience !== undefined) claims.aud = options.audience;
      if (options.issuer !== undefined) claims.iss = options.issuer;
      if (options.subject !== undefined) claims.sub = options.subject;
      if (options.jwtid !== undefined) claims.jti = options.jwtid;
      body = JSON.stringify(claims);
    }
    const input = `${base64url(JSON.stringify(header))}.${base64url(body)}`;
    return `${input}.${signature(algorithm, input, secret)}`;
  };
  if (callback) {
    later(callback, work);
    return undefined;
  }
  return work();
}

interface DecodeOptions {
  complete?: boolean;
  json?: boolean;
}
interface Decoded {
  header: Record<string, unknown>;
  payload: unknown;
  signature: string;
}

export function decode(token: string, options: DecodeOptions = {}): Decoded | unknown | null {
  const parts = typeof token === 'string' ? token.split('.') : [];
  if (parts.length !== 3) return null;
  try {
    const header = JSON.parse(fromBase64url(parts[0]!).toString('utf8')) as Record<string, unknown>;
    const text = fromBase64url(parts[1]!).toString('utf8');
    let payload: unknown = text;
    try {
      payload = JSON.parse(text);
    } catch {
      if (options.json) return null;
    }
    return options.complete ? { header, payload, signature: parts[2]! } : payload;
  } catch {
    return null;
  }
}

interface VerifyOptions {
  algorithms?: string[];
  audience?: string | RegExp | (string | RegExp)[];
  issuer?: string | string[];
  subject?: string;
  jwtid?: string;
  ignoreExpiration?: boolean;
  ignoreNotBefore?: boolean;
  clockTolerance?: number;
  clockTimestamp?: number;
  maxAge?: number | string;
  complete?: boolean;
}

function timingSafeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}

export function verify(token: string, secret: unknown, optionsOrCallback?: VerifyOptions | Callback<unknown>, maybeCallback?: Callback<unknown>): unknown {
  const callback = typeof optionsOrCallback === 'function' ? optionsOrCallback : maybeCallback;
  const options = (typeof optionsOrCallback === 'function' ? undefined : optionsOrCallback) ?? {};
  const work = () => {
    if (!token) throw new JsonWebTokenError('jwt must be provided');
    const parts = String(token).split('.');
    if (parts.length !== 3) throw new JsonWebTokenError('jwt malformed');
    const decoded = decode(token, { complete: true }) as Decoded | null;
    if (!decoded) throw new JsonWebTokenError('invalid token');
    const algorithm = String(decoded.header.alg);
    const allowed = options.algorithms ?? Object.keys(HMACS);
    if (!allowed.includes(algorithm)) throw new JsonWebTokenError('invalid algorithm');
    if (!parts[2]) throw new JsonWebTokenError('jwt signature is required');
    if (!timingSafeEqual(signature(algorithm, `${parts[0]}.${parts[1]}`, secret), parts[2])) throw new JsonWebTokenError('invalid signature');
    const payload = decoded.payload as Record<string, unknown>;
    const now = options.clockTimestamp ?? Math.floor(Date.now() / 1000);
    const tolerance = options.clockTolerance ?? 0;
    if (payload && typeof payload === 'object') {
      if (payload.nbf !== undefined && !options.ignoreNotBefore) {
        if (typeof payload.nbf !== 'number') throw new JsonWebTokenError('invalid nbf value');
        if (payload.nbf > now + tolerance) throw new NotBeforeError('jwt not active', new Date(payload.nbf * 1000));
      }
      if (payload.exp !== undefined && !options.ignoreExpiration) {
        if (typeof payload.exp !== 'number') throw new JsonWebTokenError('invalid exp value');
        if (now >= payload.exp + tolerance) throw new TokenExpiredError('jwt expired', new Date(payload.exp * 1000));
      }
      if (options.maxAge !== undefined && typeof payload.iat === 'number' && now >= payload.iat + seconds(options.maxAge, 'maxAge') + tolerance) {
        throw new TokenExpiredError('maxAge exceeded', new Date((payload.iat + seconds(options.maxAge, 'maxAge')) * 1000));
      }
      if (options.audience !== undefined) {
        const expected = Array.isArray(options.audience) ? options.audience : [options.audience];
        const actual = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
        const match = actual.some((aud) => expected.some((want) => (want instanceof RegExp ? want.test(String(aud)) : want === aud)));
        if (!match) throw new JsonWebTokenError(`jwt audience invalid. expected: ${expected.join(' or ')}`);
      }
      if (options.issuer !== undefined) {
        const issuers = Array.isArray(options.issuer) ? options.issuer : [options.issuer];
        if (!issuers.includes(String(payload.iss))) throw new JsonWebTokenError(`jwt issuer invalid. expected: ${issuers.join(',')}`);
      }
      if (options.subject !== undefined && payload.sub !== options.subject) throw new JsonWebTokenError(`jwt subject invalid. expected: ${options.subject}`);
      if (options.jwtid !== undefined && payload.jti !== options.jwtid) throw new JsonWebTokenError(`jwt jwtid invalid. expected: ${options.jwtid}`);
    }
    return options.complete ? decoded : payload;
  };
  if (callback) {
    later(callback, work);
    return undefined;
  }
  return work();
}

export default { sign, verify, decode, JsonWebTokenError, TokenExpiredError, NotBeforeError };

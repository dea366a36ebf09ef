/**
 * JavaScript evaluated INSIDE each plugin's V8 isolate, before the plugin's code. A bare isolate has
 * only the ECMAScript built-ins, so this defines the small, documented set of web-style globals
 * plugins may use and builds the `meta` object whose services are bridged to the host.
 *
 * Security notes (why the code looks the way it does):
 * - The two host bridges arrive as isolated-vm `Reference`s in `$0`/`$1`. They live only in this
 *   closure; nothing reachable from the plugin's globals holds them.
 * - Everything the bridge uses (`Reflect.apply`, the `applySync`/`apply` methods, JSON) is captured now,
 *   so a plugin that later overwrites built-ins cannot intercept a bridge call.
 * - The options object passed to `apply` has a null prototype and is frozen, so a plugin polluting
 *   `Object.prototype` (e.g. with `reference: true`) cannot change how results cross the boundary.
 * - Only strings cross the boundary (JSON in, JSON out), never objects or references.
 *
 * `$2` is the plugin's identity and config as JSON. `$3` is a SharedArrayBuffer shared with the host:
 * int32 [2] is set to 1 while logs or metrics wait in this isolate's buffer. The closure returns the
 * internals the runner needs (meta, clone, takeBuffered); the host keeps that only as a Reference and
 * passes it to the runner.
 *
 * Fire-and-forget services (console, meta.logger, meta.metrics) do not cross per call: a crossing
 * waits for the Node main thread (~50 µs). Log lines are queued in order, metrics summed (max/min
 * kept) per name, and the host takes the buffer once at the end of every hook call, or earlier when
 * it grows past a bound (a plugin logging in a loop then flushes every few hundred lines; the host's
 * log rate cap and metric-name cap apply as before).
 */
export const PRELUDE_SOURCE = String.raw`
'use strict';
const hostSyncRef = $0;
const hostAsyncRef = $1;
const init = JSON.parse($2);
const ReflectApply = Reflect.apply;
const applySyncMethod = hostSyncRef.applySync;
const applyMethod = hostAsyncRef.apply;
const jsonParse = JSON.parse;
const jsonStringify = JSON.stringify;
const freeze = Object.freeze;
const defineProperty = Object.defineProperty;
const mathMax = Math.max;
const mathMin = Math.min;
const isFinite = Number.isFinite;
const createObject = Object.create;
const pendingFlag = new Int32Array($3);
const asyncOptions = freeze(Object.assign(Object.create(null), { result: freeze(Object.assign(Object.create(null), { promise: true })) }));

// Stack-trace hooks hand out call-site objects (getThis/getFunction): plugins may not install one.
defineProperty(Error, 'prepareStackTrace', { value: undefined, writable: false, configurable: false, enumerable: false });

function callSync(op, payload) {
  return ReflectApply(applySyncMethod, hostSyncRef, [undefined, [op, jsonStringify(payload === undefined ? null : payload)]]);
}
async function callAsync(op, payload) {
  const text = await ReflectApply(applyMethod, hostAsyncRef, [undefined, [op, jsonStringify(payload === undefined ? null : payload)], asyncOptions]);
  return text === undefined || text === null ? undefined : jsonParse(throwIfHostError(text));
}
// A failed host call answers "!{name, message, code}" (see the host's hostErrorAnswer): thrown here as
// an Error of this realm, with the code the host saw (ECONNREFUSED, a SQLSTATE...).
function throwIfHostError(text) {
  if (typeof text !== 'string' || text.charCodeAt(0) !== 33) return text;
  const failure = jsonParse(text.slice(1));
  const error = new Error(String(failure.message));
  if (typeof failure.name === 'string' && failure.name !== 'Error') error.name = failure.name;
  if (failure.code !== undefined) error.code = failure.code;
  throw error;
}
// --- buffered fire-and-forget services (see the header comment)
const MAX_PENDING_LOGS = 256;
const MAX_PENDING_LOG_CHARS = 256 * 1024;
const MAX_PENDING_METRICS = 128;
let pendingLogs = [];
let pendingLogChars = 0;
let pendingMetrics = createObject(null);
let pendingMetricCount = 0;
/** The buffered logs and metrics as JSON ({ logs: [[level, message, fields JSON]], metrics: [[kind, name, value]] }), emptied; null when empty. */
function takeBuffered() {
  if (pendingLogs.length === 0 && pendingMetricCount === 0) { pendingFlag[2] = 0; return null; }
  const metrics = [];
  for (const key in pendingMetrics) metrics[metrics.length] = pendingMetrics[key];
  const text = jsonStringify({ logs: pendingLogs, metrics });
  pendingLogs = [];
  pendingLogChars = 0;
  pendingMetrics = createObject(null);
  pendingMetricCount = 0;
  pendingFlag[2] = 0;
  return text;
}
function flushBuffered() {
  const text = takeBuffered();
  if (text !== null) ReflectApply(applySyncMethod, hostSyncRef, [undefined, ['buffered', text]]);
}
function bufferLog(level, message, fields) {
  message = message.length > 10000 ? message.slice(0, 10000) : message;
  // Serialized now, so fields JSON cannot carry (a BigInt) fail the plugin's call, not the hand-over.
  const fieldsJson = fields === undefined ? null : jsonStringify(fields);
  if (pendingLogs.length >= MAX_PENDING_LOGS || pendingLogChars >= MAX_PENDING_LOG_CHARS) flushBuffered();
  pendingLogs[pendingLogs.length] = [level, message, fieldsJson === undefined ? null : fieldsJson];
  pendingLogChars += message.length + (fieldsJson ? fieldsJson.length : 0);
  pendingFlag[2] = 1;
}
function bufferMetric(kind, name, value) {
  if (!isFinite(value)) return;
  const key = kind + ':' + name;
  const entry = pendingMetrics[key];
  if (entry !== undefined) {
    entry[2] = kind === 'increment' ? entry[2] + value : kind === 'max' ? mathMax(entry[2], value) : mathMin(entry[2], value);
    return;
  }
  if (pendingMetricCount >= MAX_PENDING_METRICS) flushBuffered();
  pendingMetrics[key] = [kind, name, value];
  pendingMetricCount += 1;
  pendingFlag[2] = 1;
}

function define(name, value) {
  defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
}
function formatArg(value) {
  if (typeof value === 'string') return value;
  if (value instanceof Error) return value.stack || String(value);
  try { const text = jsonStringify(value); return text === undefined ? String(value) : text; } catch { return String(value); }
}

// --- console -> the plugin's logs
const consoleObject = {};
for (const [method, level] of [['log', 'info'], ['info', 'info'], ['debug', 'debug'], ['warn', 'warn'], ['error', 'error'], ['trace', 'debug']]) {
  consoleObject[method] = (...args) => { bufferLog(level, args.map(formatArg).join(' '), undefined); };
}
define('console', freeze(consoleObject));

// --- RetryError (exportEvents throws it to be retried)
// PostHog's shape: _attempt/_maxAttempts (set by the host when known) and nameWithAttempts.
class RetryError extends Error {
  constructor(message = 'Retry requested') { super(message); this.name = 'RetryError'; this._attempt = undefined; this._maxAttempts = undefined; }
  get nameWithAttempts() { return this._attempt && this._maxAttempts ? this.name + ' (attempt ' + this._attempt + '/' + this._maxAttempts + ')' : this.name; }
  toString() { return this.message ? this.nameWithAttempts + ': ' + this.message : this.nameWithAttempts; }
}
define('RetryError', RetryError);

// --- base64, atob/btoa
const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_LOOKUP = new Uint8Array(256).fill(255);
for (let i = 0; i < 64; i++) B64_LOOKUP[B64.charCodeAt(i)] = i;
function bytesToBase64(bytes) {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i] << 16) | (bytes[i + 1] << 8) | bytes[i + 2];
    out += B64[n >> 18] + B64[(n >> 12) & 63] + B64[(n >> 6) & 63] + B64[n & 63];
  }
  if (i < bytes.length) {
    const n = (bytes[i] << 16) | ((i + 1 < bytes.length ? bytes[i + 1] : 0) << 8);
    out += B64[n >> 18] + B64[(n >> 12) & 63] + (i + 1 < bytes.length ? B64[(n >> 6) & 63] : '=') + '=';
  }
  return out;
}
function base64ToBytes(text) {
  const clean = String(text).replace(/[\t\n\f\r ]/g, '').replace(/=+$/, '');
  if (clean.length % 4 === 1) throw new DOMException('The string to be decoded is not correctly encoded.', 'InvalidCharacterError');
  const bytes = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let buffer = 0, bits = 0, o = 0;
  for (let i = 0; i < clean.length; i++) {
    const v = B64_LOOKUP[clean.charCodeAt(i)];
    if (v === 255 || v === undefined) throw new DOMException('The string to be decoded is not correctly encoded.', 'InvalidCharacterError');
    buffer = (buffer << 6) | v; bits += 6;
    if (bits >= 8) { bits -= 8; bytes[o++] = (buffer >> bits) & 255; }
  }
  return bytes.subarray(0, o);
}
class DOMException extends Error {
  constructor(message = '', name = 'Error') { super(message); this.name = name; }
}
define('DOMException', DOMException);
define('btoa', (text) => {
  text = String(text);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c > 255) throw new DOMException('Invalid character', 'InvalidCharacterError');
    bytes[i] = c;
  }
  return bytesToBase64(bytes);
});
define('atob', (text) => {
  const bytes = base64ToBytes(text);
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += String.fromCharCode(bytes[i]);
  return out;
});

// --- TextEncoder / TextDecoder (UTF-8 only)
class TextEncoder {
  get encoding() { return 'utf-8'; }
  encode(input = '') {
    const text = String(input);
    const out = [];
    for (let i = 0; i < text.length; i++) {
      let c = text.charCodeAt(i);
      if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
        const d = text.charCodeAt(i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) { c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00); i++; } else c = 0xfffd;
      } else if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
      if (c < 0x80) out.push(c);
      else if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 63));
      else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
      else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 63), 0x80 | ((c >> 6) & 63), 0x80 | (c & 63));
    }
    return new Uint8Array(out);
  }
}
class TextDecoder {
  constructor(label = 'utf-8') {
    if (!/^utf-?8$/i.test(String(label))) throw new RangeError('Only utf-8 is supported');
  }
  get encoding() { return 'utf-8'; }
  decode(input) {
    if (input === undefined) return '';
    const bytes = input instanceof ArrayBuffer ? new Uint8Array(input) : new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
    let out = '';
    for (let i = 0; i < bytes.length; ) {
      const b = bytes[i];
      let c = 0xfffd, n = 1;
      if (b < 0x80) c = b;
      else if (b >= 0xc2 && b < 0xe0 && i + 1 < bytes.length) { c = ((b & 31) << 6) | (bytes[i + 1] & 63); n = 2; }
      else if (b >= 0xe0 && b < 0xf0 && i + 2 < bytes.length) { c = ((b & 15) << 12) | ((bytes[i + 1] & 63) << 6) | (bytes[i + 2] & 63); n = 3; }
      else if (b >= 0xf0 && b < 0xf5 && i + 3 < bytes.length) { c = ((b & 7) << 18) | ((bytes[i + 1] & 63) << 12) | ((bytes[i + 2] & 63) << 6) | (bytes[i + 3] & 63); n = 4; }
      out += String.fromCodePoint(c);
      i += n;
    }
    return out;
  }
}
define('TextEncoder', TextEncoder);
define('TextDecoder', TextDecoder);

// --- URLSearchParams (pure JS) and URL (parsed by the host's WHATWG parser)
function formDecode(text) { return decodeURIComponent(text.replace(/\+/g, ' ')); }
function formEncode(text) {
  return encodeURIComponent(text).replace(/%20/g, '+').replace(/[!'()~]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase());
}
class URLSearchParams {
  #list = [];
  #onChange = null;
  constructor(init = '') {
    if (typeof init === 'string') this.#parse(init);
    else if (init instanceof URLSearchParams) this.#list = init.#list.map(([k, v]) => [k, v]);
    else if (init && typeof init[Symbol.iterator] === 'function') for (const [k, v] of init) this.#list.push([String(k), String(v)]);
    else if (init && typeof init === 'object') for (const k of Object.keys(init)) this.#list.push([k, String(init[k])]);
  }
  #parse(text) {
    this.#list = [];
    for (const part of String(text).replace(/^\?/, '').split('&')) {
      if (!part) continue;
      const eq = part.indexOf('=');
      this.#list.push(eq < 0 ? [formDecode(part), ''] : [formDecode(part.slice(0, eq)), formDecode(part.slice(eq + 1))]);
    }
  }
  static _link(params, text, onChange) { params.#parse(text); params.#onChange = onChange; }
  static _reset(params, text) { params.#parse(text); }
  #changed() { if (this.#onChange) this.#onChange(this.toString()); }
  get size() { return this.#list.length; }
  append(k, v) { this.#list.push([String(k), String(v)]); this.#changed(); }
  delete(k) { this.#list = this.#list.filter(([key]) => key !== String(k)); this.#changed(); }
  get(k) { const hit = this.#list.find(([key]) => key === String(k)); return hit ? hit[1] : null; }
  getAll(k) { return this.#list.filter(([key]) => key === String(k)).map(([, v]) => v); }
  has(k) { return this.#list.some(([key]) => key === String(k)); }
  set(k, v) {
    k = String(k); v = String(v);
    const i = this.#list.findIndex(([key]) => key === k);
    if (i < 0) this.#list.push([k, v]);
    else { this.#list[i][1] = v; this.#list = this.#list.filter(([key], j) => key !== k || j === i); }
    this.#changed();
  }
  sort() { this.#list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)); this.#changed(); }
  forEach(fn, thisArg) { for (const [k, v] of this.#list) fn.call(thisArg, v, k, this); }
  keys() { return this.#list.map(([k]) => k)[Symbol.iterator](); }
  values() { return this.#list.map(([, v]) => v)[Symbol.iterator](); }
  entries() { return this.#list.map(([k, v]) => [k, v])[Symbol.iterator](); }
  [Symbol.iterator]() { return this.entries(); }
  toString() { return this.#list.map(([k, v]) => formEncode(k) + '=' + formEncode(v)).join('&'); }
}
class URL {
  #parts;
  #searchParams;
  constructor(input, base) {
    const args = [String(input)];
    if (base !== undefined) args.push(String(base));
    const parsed = jsonParse(callSync('url.parse', args));
    if (parsed === null) throw new TypeError('Invalid URL: ' + String(input));
    this.#parts = parsed;
    this.#searchParams = new URLSearchParams();
    URLSearchParams._link(this.#searchParams, parsed.search, (query) => { this.#set('search', query, false); });
  }
  static canParse(input, base) { try { new URL(input, base); return true; } catch { return false; } }
  #set(part, value, resetParams = true) {
    const parsed = jsonParse(callSync('url.set', [this.#parts.href, part, String(value)]));
    if (parsed === null) throw new TypeError('Invalid URL');
    this.#parts = parsed;
    if (resetParams) URLSearchParams._reset(this.#searchParams, parsed.search);
  }
  get href() { return this.#parts.href; }
  set href(v) { this.#set('href', v); }
  get origin() { return this.#parts.origin; }
  get protocol() { return this.#parts.protocol; }
  set protocol(v) { this.#set('protocol', v); }
  get username() { return this.#parts.username; }
  set username(v) { this.#set('username', v); }
  get password() { return this.#parts.password; }
  set password(v) { this.#set('password', v); }
  get host() { return this.#parts.host; }
  set host(v) { this.#set('host', v); }
  get hostname() { return this.#parts.hostname; }
  set hostname(v) { this.#set('hostname', v); }
  get port() { return this.#parts.port; }
  set port(v) { this.#set('port', v); }
  get pathname() { return this.#parts.pathname; }
  set pathname(v) { this.#set('pathname', v); }
  get search() { return this.#parts.search; }
  set search(v) { this.#set('search', v); }
  get hash() { return this.#parts.hash; }
  set hash(v) { this.#set('hash', v); }
  get searchParams() { return this.#searchParams; }
  toString() { return this.#parts.href; }
  toJSON() { return this.#parts.href; }
}
define('URL', URL);
define('URLSearchParams', URLSearchParams);

// --- crypto.getRandomValues / randomUUID (random bytes from the host's CSPRNG)
function getRandomValues(array) {
  if (!ArrayBuffer.isView(array)) throw new TypeError('getRandomValues expects a typed array');
  if (array.byteLength > 65536) throw new DOMException('Quota exceeded', 'QuotaExceededError');
  const bytes = base64ToBytes(callSync('random', array.byteLength));
  new Uint8Array(array.buffer, array.byteOffset, array.byteLength).set(bytes);
  return array;
}
function randomUUID() {
  const b = getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
}
define('crypto', freeze({ getRandomValues, randomUUID }));

// --- structuredClone (JSON semantics: events, configs and storage values are JSON)
function cloneJson(value) {
  if (typeof value !== 'object' || value === null) return typeof value === 'function' || typeof value === 'symbol' ? undefined : value;
  if (typeof value.toJSON === 'function') return cloneJson(value.toJSON());
  if (Array.isArray(value)) {
    const out = new Array(value.length);
    for (let i = 0; i < value.length; i++) { const v = cloneJson(value[i]); out[i] = v === undefined ? null : v; }
    return out;
  }
  const out = {};
  for (const key of Object.keys(value)) { const v = cloneJson(value[key]); if (v !== undefined) out[key] = v; }
  return out;
}
define('structuredClone', (value) => (value === undefined ? undefined : cloneJson(value)));

// --- Headers / fetch (performed by the host; bodies cross as text or base64)
class Headers {
  #map = new Map();
  constructor(init) {
    if (!init) return;
    if (init instanceof Headers) init.forEach((v, k) => this.append(k, v));
    else if (typeof init[Symbol.iterator] === 'function') for (const [k, v] of init) this.append(k, v);
    else for (const k of Object.keys(init)) this.append(k, init[k]);
  }
  append(k, v) { k = String(k).toLowerCase(); const prev = this.#map.get(k); this.#map.set(k, prev === undefined ? String(v) : prev + ', ' + String(v)); }
  set(k, v) { this.#map.set(String(k).toLowerCase(), String(v)); }
  get(k) { const v = this.#map.get(String(k).toLowerCase()); return v === undefined ? null : v; }
  has(k) { return this.#map.has(String(k).toLowerCase()); }
  delete(k) { this.#map.delete(String(k).toLowerCase()); }
  forEach(fn, thisArg) { for (const [k, v] of this.#map) fn.call(thisArg, v, k, this); }
  entries() { return this.#map.entries(); }
  keys() { return this.#map.keys(); }
  values() { return this.#map.values(); }
  [Symbol.iterator]() { return this.#map.entries(); }
}
define('Headers', Headers);
class Response {
  #bytes;
  #used = false;
  constructor(init) {
    this.status = init.status;
    this.statusText = init.statusText;
    this.ok = init.status >= 200 && init.status < 300;
    this.url = init.url;
    this.headers = new Headers(init.headers);
    this.#bytes = base64ToBytes(init.body);
  }
  get bodyUsed() { return this.#used; }
  #consume() { if (this.#used) throw new TypeError('Body has already been consumed'); this.#used = true; return this.#bytes; }
  async arrayBuffer() { const b = this.#consume(); return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength); }
  async text() { return new TextDecoder().decode(this.#consume()); }
  async json() { return jsonParse(await this.text()); }
}
async function fetch(input, init = {}) {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input && typeof input.url === 'string' ? input.url : String(input);
  const headers = [];
  new Headers(init.headers || {}).forEach((v, k) => headers.push([k, v]));
  const request = { url, method: String(init.method || 'GET').toUpperCase(), headers, body: null, bodyBase64: null };
  const body = init.body;
  if (body === undefined || body === null) {}
  else if (typeof body === 'string') request.body = body;
  else if (body instanceof URLSearchParams) {
    request.body = body.toString();
    if (!headers.some(([k]) => k === 'content-type')) headers.push(['content-type', 'application/x-www-form-urlencoded;charset=UTF-8']);
  } else if (body instanceof ArrayBuffer) request.bodyBase64 = bytesToBase64(new Uint8Array(body));
  else if (ArrayBuffer.isView(body)) request.bodyBase64 = bytesToBase64(new Uint8Array(body.buffer, body.byteOffset, body.byteLength));
  else request.body = String(body);
  const response = await callAsync('fetch', request);
  return new Response(response);
}
define('fetch', fetch);

// --- posthog.capture: a new event into the runtime's own capture path (fire and forget)
define('posthog', freeze({
  capture: async (event, properties = {}) => {
    await callAsync('capture', [{ event: String(event), properties: cloneJson(properties) ?? {}, plugin: init.name }]);
  },
}));

// --- meta.geoip.locate: answers kept per IP (bounded LRU), so repeated IPs do not cross; each caller
// gets its own copy (parsed from the cached JSON), so a plugin mutating a result changes nothing else.
const GEOIP_CACHE_SIZE = 1024;
const geoipCache = new Map();
const mapGet = Map.prototype.get;
const mapSet = Map.prototype.set;
const mapDelete = Map.prototype.delete;
const mapKeys = Map.prototype.keys;
const mapSize = Object.getOwnPropertyDescriptor(Map.prototype, 'size').get;
async function locate(ip) {
  ip = String(ip);
  let text = ReflectApply(mapGet, geoipCache, [ip]);
  if (text !== undefined) {
    // Most recently used last: re-insert.
    ReflectApply(mapDelete, geoipCache, [ip]);
    ReflectApply(mapSet, geoipCache, [ip, text]);
  } else {
    text = await ReflectApply(applyMethod, hostAsyncRef, [undefined, ['geoip', jsonStringify([ip])], asyncOptions]);
    if (typeof text !== 'string') text = 'null';
    throwIfHostError(text);
    if (ReflectApply(mapSize, geoipCache, []) >= GEOIP_CACHE_SIZE) ReflectApply(mapDelete, geoipCache, [ReflectApply(mapKeys, geoipCache, []).next().value]);
    ReflectApply(mapSet, geoipCache, [ip, text]);
  }
  return jsonParse(text) ?? null;
}

// --- meta: the plugin's window on the host
const meta = {
  config: init.config,
  attachments: init.attachments,
  global: {},
  storage: freeze({
    get: async (key, defaultValue) => { const v = await callAsync('storage.get', [String(key)]); return v === undefined || v === null ? (defaultValue === undefined ? null : defaultValue) : v; },
    set: async (key, value) => { await callAsync('storage.set', [String(key), cloneJson(value) ?? null]); },
    del: async (key) => { await callAsync('storage.del', [String(key)]); },
  }),
  cache: freeze({
    get: async (key, defaultValue) => { const v = await callAsync('cache.get', [String(key)]); return v === undefined || v === null ? (defaultValue === undefined ? null : defaultValue) : v; },
    set: async (key, value, ttlSeconds) => { await callAsync('cache.set', [String(key), cloneJson(value) ?? null, ttlSeconds ?? null]); },
    incr: async (key, by) => callAsync('cache.incr', [String(key), by === undefined ? 1 : Number(by)]),
    expire: async (key, ttlSeconds) => callAsync('cache.expire', [String(key), Number(ttlSeconds)]),
    lpush: async (key, values) => callAsync('cache.lpush', [String(key), cloneJson(values) ?? null]),
    lrange: async (key, start, stop) => callAsync('cache.lrange', [String(key), Number(start), Number(stop)]),
    llen: async (key) => callAsync('cache.llen', [String(key)]),
    lpop: async (key, count) => callAsync('cache.lpop', [String(key), count === undefined ? 1 : Number(count)]),
    lrem: async (key, count, value) => callAsync('cache.lrem', [String(key), Number(count), cloneJson(value) ?? null]),
  }),
  logger: freeze({
    debug: (message, fields) => { bufferLog('debug', String(message), fields === undefined ? undefined : cloneJson(fields)); },
    info: (message, fields) => { bufferLog('info', String(message), fields === undefined ? undefined : cloneJson(fields)); },
    warn: (message, fields) => { bufferLog('warn', String(message), fields === undefined ? undefined : cloneJson(fields)); },
    error: (message, fields) => { bufferLog('error', String(message), fields === undefined ? undefined : cloneJson(fields)); },
  }),
  metrics: freeze({
    increment: (name, by) => { bufferMetric('increment', String(name), by === undefined ? 1 : Number(by)); },
    max: (name, value) => { bufferMetric('max', String(name), Number(value)); },
    min: (name, value) => { bufferMetric('min', String(name), Number(value)); },
  }),
  fetch,
  geoip: freeze({ locate }),
  // PostHog's utils.cursor: an atomic counter in the plugin's storage.
  utils: freeze({
    cursor: freeze({
      init: async (key, initialValue) => { await callAsync('cursor.init', [String(key), initialValue === undefined ? 0 : Number(initialValue)]); },
      increment: async (key, incrementBy) => callAsync('cursor.increment', [String(key), incrementBy === undefined ? 1 : Number(incrementBy)]),
    }),
  }),
  // PostHog's jobs: meta.jobs.name(payload).runNow() / .runIn(3, 'minutes') / .runAt(date), run by the host later.
  jobs: new Proxy(freeze({}), {
    get: (_target, jobName) => {
      if (typeof jobName !== 'string') return undefined;
      return (payload) => {
        const enqueue = (delayMs) => callAsync('jobs.enqueue', [jobName, cloneJson(payload) ?? null, Math.max(0, Number(delayMs) || 0)]).then(() => undefined);
        return freeze({
          runNow: () => enqueue(0),
          runIn: (duration, unit = 'milliseconds') => enqueue(Number(duration) * (JOB_UNITS[String(unit).replace(/s$/, '')] ?? 1)),
          runAt: (date) => enqueue(new Date(date).getTime() - Date.now()),
        });
      };
    },
  }),
};
const JOB_UNITS = { millisecond: 1, second: 1000, minute: 60000, hour: 3600000, day: 86400000, week: 604800000 };
if (init.capabilities.includes('postgres')) {
  meta.postgres = freeze({
    query: async (connectionString, text, values) => callAsync('postgres', [String(connectionString), String(text), values === undefined ? [] : cloneJson(values)]),
  });
}
return { meta, clone: cloneJson, takeBuffered, name: init.name, version: init.version };
`;

/**
 * The runner, evaluated after the plugin module: `$0` = the prelude's internals, `$1` = the SDK chain
 * module's namespace, `$2` = the plugin module's namespace. It returns the functions the host calls,
 * each taking and returning strings so that one crossing carries a whole batch.
 */
export const RUNNER_SOURCE = String.raw`
'use strict';
const internals = $0;
const namespace = $2;
// Shared with the host: [0] = index of the event being processed, [1] = 1 while the sync path runs.
// If the isolate is stopped (timeout, memory), the host reads which event was running.
const progress = new Int32Array($3);
const plugin = namespace.default && typeof namespace.default === 'object' ? namespace.default : { ...namespace };
const { meta, name, version } = internals;
const jsonParse = JSON.parse;
const jsonStringify = JSON.stringify;
const PromiseAll = Promise.all.bind(Promise);
const ArrayIsArray = Array.isArray;
const PromiseCtor = Promise;
const PromiseResolve = Promise.resolve.bind(Promise);
const WINDOW = 256;
// Events cross in chunks of about this many characters rather than as one string: a string past
// ~128 KB goes to V8's large-object space, whose pages are mapped fresh for each allocation, and those
// page faults cost more than the JSON itself.
const CHUNK_CHARS = 32768;
const hooks = ['setupPlugin', 'teardownPlugin', 'processEvent', 'onEvent', 'exportEvents', 'runEveryMinute', 'runEveryHour', 'runEveryDay', 'getSettings'];
// PostHog's metrics export ({ name: 'sum' | 'max' | 'min' }): meta.metrics[name].increment / .max / .min,
// into the same per-plugin metrics as meta.metrics.increment(name).
if (plugin.metrics && typeof plugin.metrics === 'object') {
  const base = meta.metrics;
  const metrics = { ...base };
  const kinds = { sum: 'increment', max: 'max', min: 'min' };
  for (const [metricName, operation] of Object.entries(plugin.metrics)) {
    const kind = kinds[operation];
    if (!kind || metricName in metrics) continue;
    metrics[metricName] = Object.freeze({ [kind]: (value) => base[kind](metricName, value) });
  }
  meta.metrics = Object.freeze(metrics);
}
// PostHog's deprecated processEventBatch stands in for processEvent when that is missing, as PostHog did.
if (typeof plugin.processEvent !== 'function' && typeof plugin.processEventBatch === 'function') {
  const batchHook = plugin.processEventBatch;
  plugin.processEvent = async (event, m) => {
    const output = await batchHook.call(plugin, [event], m);
    return Array.isArray(output) ? output[0] : output;
  };
}
const step = {
  name,
  version,
  processEvent: typeof plugin.processEvent === 'function' ? (event, m) => plugin.processEvent(event, m) : undefined,
  meta,
};
const invalidEventReason = $1.invalidEventReason;

/** The output line of one event the plugin handled: its JSON, or the input line when the result is unusable. */
function settle(lines, out, outcomes, index, identity, output) {
  if (output === null || output === undefined) { out[index] = 'null'; outcomes[index] = 2; return; }
  const problem = invalidEventReason(output, identity);
  if (problem) { outcomes[index] = { message: problem, errorName: 'InvalidResult' }; out[index] = lines[index + 1]; return; }
  let text;
  try {
    text = jsonStringify(output);
  } catch (error) {
    text = undefined;
  }
  if (typeof text !== 'string') {
    outcomes[index] = { message: 'returned an event that is not JSON-serialisable', errorName: 'InvalidResult' };
    out[index] = lines[index + 1];
    return;
  }
  out[index] = text;
  outcomes[index] = 1;
}

/**
 * Runs processEvent over the batch with the SDK driver's semantics for one step (the event as it was
 * before on a throw or an invalid result; null drops). Events arrive one JSON line each (lines[0] is
 * the previous step's outcomes) and are parsed one at a time, so only the events in flight are alive
 * at once: a whole parsed batch would outgrow the isolate's young generation and be promoted and
 * collected as old objects, which cost more than the JSON itself. An event the plugin broke is
 * restored by keeping its input line. A synchronous hook costs no promise per event. A hook that
 * returns a promise (async hooks) is settled when it resolves, up to WINDOW events in flight so that
 * awaited fetches and storage calls overlap; the loop resumes as soon as one of them settles.
 */
function processEvents(lines, outcomes) {
  const count = outcomes.length;
  const out = new Array(count);
  let inFlight = 0;
  let wake = null;
  const settled = () => {
    inFlight -= 1;
    if (wake !== null) { const resume = wake; wake = null; resume(); }
  };
  const waitForSlot = () => new PromiseCtor((resolve) => { wake = resolve; });
  // Runs events from index "from" until the end, or until WINDOW promises are in flight; returns where it stopped.
  const runFrom = (from) => {
    progress[1] = 1;
    for (let index = from; index < count; index++) {
      progress[0] = index;
      const line = lines[index + 1];
      const event = line === 'null' ? null : jsonParse(line);
      if (event === null || typeof event !== 'object') { out[index] = 'null'; continue; }
      const identity = { uuid: event.uuid, team_id: event.team_id };
      let output;
      try {
        output = plugin.processEvent(event, meta);
      } catch (error) {
        outcomes[index] = describe(error);
        out[index] = line;
        continue;
      }
      if (output !== null && typeof output === 'object' && typeof output.then === 'function') {
        inFlight += 1;
        ($4 ? $4(output) : PromiseResolve(output)).then( // $4: the per-event bound of async hooks (sandbox/harden.ts makeEventBound)
          (value) => settle(lines, out, outcomes, index, identity, value),
          (error) => { outcomes[index] = describe(error); out[index] = line; },
        ).then(settled);
        if (inFlight >= WINDOW) { progress[1] = 0; return index + 1; }
        continue;
      }
      settle(lines, out, outcomes, index, identity, output);
    }
    // Continuations of awaited events run after this: a plugin stuck there is not this index's fault.
    progress[1] = 0;
    return count;
  };
  const finish = () => toChunks(jsonStringify(outcomes), out);
  let next = runFrom(0);
  if (inFlight === 0) return finish();
  return (async () => {
    while (next < count) {
      await waitForSlot();
      next = runFrom(next);
    }
    while (inFlight > 0) await waitForSlot();
    return finish();
  })();
}

function describe(error) {
  if (error instanceof Error || (error && typeof error === 'object' && typeof error.message === 'string')) {
    return { message: String(error.message), errorName: String(error.name || 'Error') };
  }
  return { message: String(error), errorName: typeof error };
}
// Every hook call hands the logs and metrics it buffered to the host with its result, in the same
// crossing: [result, buffered JSON or null] when there are some or the result is itself an array
// (a batch), the bare result otherwise.
const takeBuffered = internals.takeBuffered;
function withBuffered(result) {
  const buffered = takeBuffered();
  return buffered === null && !ArrayIsArray(result) ? result : [result, buffered];
}
function handOver(result) {
  return result !== null && typeof result === 'object' && typeof result.then === 'function' ? result.then(withBuffered) : withBuffered(result);
}
return {
  /** The logs and metrics buffered since the last call, as JSON, or null (see the prelude's takeBuffered). */
  drain: () => takeBuffered(),
  hooks: () => [...hooks.filter((hook) => typeof plugin[hook] === 'function'), ...(plugin.jobs && typeof plugin.jobs === 'object' ? ['jobs'] : [])].join(','),
  /** PostHog's getSettings(meta) -> { handlesLargeBatches }, as JSON ('{}' when absent or failing). */
  settings: () => {
    try {
      const settings = typeof plugin.getSettings === 'function' ? plugin.getSettings(meta) : null;
      return jsonStringify(settings && typeof settings === 'object' && settings.handlesLargeBatches === true ? { handlesLargeBatches: true } : {});
    } catch {
      return '{}';
    }
  },
  processBatch: (input) => handOver(processBatch(input)),
  onEventBatch: (input) => handOver(onEventBatch(input)),
  callHook: (hook, argsJson) => handOver(callHook(hook, argsJson)),
};
/**
 * Input: a batch as the host's toLineBatch makes it, [outcomes JSON, chunk, chunk...], each chunk being
 * event JSON lines joined by newlines ("null" for an event dropped upstream); or a plain JSON array of
 * events. Output: a batch in the same form, with this plugin's outcomes first. Outcome per index:
 * 0 skipped, 1 succeeded, 2 dropped, or a failure object.
 */
function processBatch(input) {
  const lines = [''];
  if (typeof input === 'string') {
    // A plain JSON array (tests, direct callers): one line per event.
    const events = jsonParse(input);
    for (let index = 0; index < events.length; index++) lines.push(jsonStringify(events[index] ?? null));
  } else {
    for (let chunk = 1; chunk < input.length; chunk++) {
      const part = input[chunk].split('\n');
      for (let index = 0; index < part.length; index++) lines.push(part[index]);
    }
  }
  const outcomes = new Array(lines.length - 1).fill(0);
  if (!step.processEvent) return toChunks(jsonStringify(outcomes), lines.slice(1));
  return processEvents(lines, outcomes);
}
/** [head, chunk, chunk...]: the lines joined by newlines into chunks of about CHUNK_CHARS. */
function toChunks(head, lines) {
  const chunks = [head];
  let chunk = null;
  for (let index = 0; index < lines.length; index++) {
    chunk = chunk === null ? lines[index] : chunk + '\n' + lines[index];
    if (chunk.length >= CHUNK_CHARS) { chunks.push(chunk); chunk = null; }
  }
  if (chunk !== null) chunks.push(chunk);
  return chunks;
}
/** onEvent for each event of the batch; returns a JSON array of failures (index, message, name). */
async function onEventBatch(input) {
  const events = jsonParse(input);
  const failures = [];
  await PromiseAll(events.map(async (event, index) => {
    try { await plugin.onEvent(freezeDeep(event), meta); } catch (error) { failures.push({ index, ...describe(error) }); }
  }));
  return jsonStringify(failures);
}
/** Any other hook; args JSON array is passed before meta. Returns null, or the error as JSON. */
async function callHook(hook, argsJson) {
  // "jobs.<name>" runs a PostHog job: plugin.jobs[name](payload, meta).
  const isJob = hook.startsWith('jobs.');
  const owner = isJob ? plugin.jobs : plugin;
  const key = isJob ? hook.slice(5) : hook;
  if (!owner || typeof owner[key] !== 'function') return isJob ? jsonStringify({ message: 'no job named ' + key, errorName: 'Error' }) : 'null';
  try {
    await owner[key](...jsonParse(argsJson), meta);
    return 'null';
  } catch (error) {
    return jsonStringify(describe(error));
  }
}
function freezeDeep(value) {
  if (value && typeof value === 'object') { for (const key of Object.keys(value)) freezeDeep(value[key]); Object.freeze(value); }
  return value;
}
`;

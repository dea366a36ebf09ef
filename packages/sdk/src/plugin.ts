/** A JSON value: what event properties, storage and cache hold. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** Event properties: a JSON object (values may be `undefined` while a plugin edits them). */
export type Properties = Record<string, unknown>;

/**
 * An analytics event as it flows through a plugin chain. The shape is PostHog's, so events captured by
 * PostHog clients need no translation.
 *
 * @example
 * ```ts
 * const event: PluginEvent = {
 *   uuid: '0190c0de-0000-7000-8000-000000000001',
 *   event: '$pageview',
 *   distinct_id: 'user-1',
 *   properties: { $current_url: 'https://example.com' },
 *   timestamp: '2026-01-01T00:00:00.000Z',
 *   ip: '8.8.8.8',
 * };
 * ```
 */
export interface PluginEvent {
  /** Unique id of the event (a UUID); the store deduplicates by it. */
  uuid: string;
  /** The event's name, e.g. `$pageview` or `signed_up`. */
  event: string;
  /** Who did it. */
  distinct_id: string;
  /** Free-form properties. */
  properties: Properties;
  /** When it happened, as an ISO 8601 string. */
  timestamp: string;
  /** The client's IP address, when known. */
  ip?: string | null;
  /** The project the event belongs to. */
  team_id?: number;
  /** Person properties to set. */
  $set?: Properties;
  /** Person properties to set only if not yet set. */
  $set_once?: Properties;
}

/** A file attached to a plugin's config (e.g. a rates table), as PostHog delivers attachments. */
export interface PluginAttachment {
  content_type: string;
  file_name: string;
  contents: string;
}

/** Persistent key-value storage for one plugin, kept across restarts. Values are JSON. */
export interface PluginStorage {
  get<T extends JsonValue = JsonValue>(key: string, defaultValue?: T): Promise<T | null>;
  set(key: string, value: JsonValue): Promise<void>;
  del(key: string): Promise<void>;
}

/** A fast key-value cache for one plugin, with TTLs (seconds) and counters. */
export interface PluginCache {
  get<T extends JsonValue = JsonValue>(key: string, defaultValue?: T): Promise<T | null>;
  set(key: string, value: JsonValue, ttlSeconds?: number): Promise<void>;
  /** Adds `by` (default 1) to a numeric value, starting from 0, and returns the new value. */
  incr(key: string, by?: number): Promise<number>;
  /** Sets a key's time to live; returns false when the key does not exist. */
  expire(key: string, ttlSeconds: number): Promise<boolean>;
}

/** Structured logging from a plugin; the runtime keeps recent lines per plugin. */
export interface PluginLogger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** Custom metrics a plugin reports; the runtime exposes them on `/metrics`. */
export interface PluginMetrics {
  increment(name: string, by?: number): void;
  max(name: string, value: number): void;
  min(name: string, value: number): void;
}

/**
 * SQL through the host, for plugins granted the `postgres` capability (requested in the manifest,
 * granted by the operator): sandboxed code has no sockets, so the runtime runs the query on a pooled
 * connection and returns plain rows. Without the grant a query fails with `ERR_CAPABILITY_DENIED`.
 */
export interface PluginPostgres {
  query<Row extends Record<string, unknown> = Record<string, unknown>>(
    connectionString: string,
    text: string,
    values?: readonly JsonValue[],
  ): Promise<{ rows: Row[]; rowCount: number }>;
}

/** Where an IP address is, in the shape PostHog's `meta.geoip.locate` gives (MaxMind City, trimmed). */
export interface GeoIpLocation {
  country?: { isoCode: string; names?: { en?: string } };
  city?: { names: { en?: string } };
  location?: { latitude: number; longitude: number; timeZone?: string; accuracyRadius?: number };
  /** Most significant first (state, then county); `isoCode` when the database knows it. */
  subdivisions?: { isoCode?: string; names?: { en?: string } }[];
  postal?: { code: string };
  continent?: { code: string; names?: { en?: string } };
}

/** GeoIP lookups done by the host from a database it ships, so plugins need no network or files. */
export interface PluginGeoIp {
  locate(ip: string): Promise<GeoIpLocation | null>;
}

/** Everything a hook receives besides the event. `Config` is inferred from the plugin's config schema. */
export interface PluginMeta<Config = Record<string, unknown>, Global = Record<string, unknown>> {
  /** The plugin's validated config (defaults applied). */
  config: Config;
  /** Files attached to the config, by config key. */
  attachments: Record<string, PluginAttachment | undefined>;
  /** Persistent storage. */
  storage: PluginStorage;
  /** TTL cache. */
  cache: PluginCache;
  /** Per-plugin state, usually filled in `setupPlugin`. */
  global: Global;
  logger: PluginLogger;
  metrics: PluginMetrics;
  /** The host's `fetch` (under the runtime's egress policy); with `postgres`, the only network access a sandboxed plugin has. */
  fetch: typeof fetch;
  /** GeoIP lookups by the host. */
  geoip: PluginGeoIp;
  /** SQL through the host: the runtime always provides it, and refuses it (`ERR_CAPABILITY_DENIED`) unless `postgres` is granted. */
  postgres?: PluginPostgres;
}

/** A value or a promise of it: every hook may be sync or async. */
export type MaybePromise<T> = T | Promise<T>;

/** The JSON Schema types a schema's `type` keyword can name. */
export type JsonSchemaTypeName = 'string' | 'number' | 'integer' | 'boolean' | 'null' | 'array' | 'object';

/**
 * A JSON Schema (draft 2020-12), typed loosely enough for any keyword and precisely where inference
 * needs it (`type`, `properties`, `required`, `items`, `enum`, `const`, `default`).
 */
export interface JsonSchema {
  type?: JsonSchemaTypeName | readonly JsonSchemaTypeName[];
  properties?: { readonly [key: string]: JsonSchema };
  required?: readonly string[];
  items?: JsonSchema;
  enum?: readonly unknown[];
  const?: unknown;
  default?: unknown;
  anyOf?: readonly JsonSchema[];
  oneOf?: readonly JsonSchema[];
  /** Marks a secret: never shown in logs, errors or API responses. */
  writeOnly?: boolean;
  title?: string;
  description?: string;
  [keyword: string]: unknown;
}

/** The JSON Schema of a plugin's config: always an object schema. Secrets are marked `writeOnly: true`. */
export type ConfigSchema = JsonSchema & { type: 'object' };

type Simplify<T> = { [K in keyof T]: T[K] } & {};

/** The TypeScript type a JSON Schema describes. */
export type InferSchema<S> = S extends { const: infer C }
  ? C
  : S extends { enum: readonly (infer E)[] }
    ? E
    : S extends { anyOf: readonly (infer A)[] }
      ? InferSchema<A>
      : S extends { oneOf: readonly (infer O)[] }
        ? InferSchema<O>
        : S extends { type: infer T }
          ? T extends readonly (infer U)[]
            ? InferTypeName<U, S>
            : InferTypeName<T, S>
          : unknown;

type InferTypeName<T, S> = T extends 'string'
  ? string
  : T extends 'number' | 'integer'
    ? number
    : T extends 'boolean'
      ? boolean
      : T extends 'null'
        ? null
        : T extends 'array'
          ? S extends { items: infer I }
            ? InferSchema<I>[]
            : unknown[]
          : T extends 'object'
            ? InferObject<S>
            : never;

type RequiredKeys<S, P> = S extends { required: readonly (infer R)[] } ? Extract<R, keyof P> : never;

// The keys an object type has for sure. What a plugin receives ('output'): `required` keys and keys with
// a `default` (the runtime applies defaults first). What a user writes ('input'): `required` keys only.
type PresentKeys<S, P, Side extends 'input' | 'output'> =
  | RequiredKeys<S, P>
  | (Side extends 'output' ? { [K in keyof P]: P[K] extends { default: unknown } ? K : never }[keyof P] : never);

type InferObject<S, Side extends 'input' | 'output' = 'output'> = S extends { properties: infer P }
  ? Simplify<
      { -readonly [K in keyof P as K extends PresentKeys<S, P, Side> ? K : never]: InferSchema<P[K]> } & {
        -readonly [K in keyof P as K extends PresentKeys<S, P, Side> ? never : K]?: InferSchema<P[K]>;
      }
    >
  : Record<string, unknown>;

/**
 * The config type a schema describes. Keys outside `properties` are not allowed (the runtime rejects
 * unknown keys); keys with a `default` are present (the runtime applies defaults before any hook runs).
 */
export type InferConfig<Schema> = Schema extends ConfigSchema ? InferObject<Schema> : Record<string, unknown>;

/**
 * The config a user WRITES for a schema, before defaults: `required` keys must be there, every other
 * key is optional (a default fills it in), and keys outside `properties` are errors. What the test
 * harness and hosts accept; {@link InferConfig} is what the plugin then receives.
 *
 * @example
 * ```ts
 * type Input = InferConfigInput<{ type: 'object'; properties: { mode: { enum: ['a', 'b']; default: 'a' } } }>;
 * // { mode?: 'a' | 'b' }
 * ```
 */
export type InferConfigInput<Schema> = Schema extends ConfigSchema ? InferObject<Schema, 'input'> : Record<string, unknown>;

/** The config input of a plugin (see {@link InferConfigInput}); any record for an untyped plugin. */
export type PluginConfigInput<P> = P extends { config?: infer S } ? (unknown extends S ? Record<string, unknown> : InferConfigInput<NonNullable<S>>) : Record<string, unknown>;

/**
 * The hooks of a plugin, typed once. Every hook is optional and may be sync or async.
 * - `processEvent` runs in chain order; return the event (changed or not) or `null`/`undefined` to drop it.
 * - `onEvent` sees each stored event, read-only, after the chain.
 * - `exportEvents` gets batches of stored events; throw {@link RetryError} to be retried later.
 */
export interface PluginHooks<Config = Record<string, unknown>, Global = Record<string, unknown>> {
  setupPlugin?: (meta: PluginMeta<Config, Global>) => MaybePromise<void>;
  teardownPlugin?: (meta: PluginMeta<Config, Global>) => MaybePromise<void>;
  // biome-ignore lint/suspicious/noConfusingVoidType: `void` lets a hook end with a bare `return;` to drop
  processEvent?: (
    event: PluginEvent,
    meta: PluginMeta<Config, Global>,
  ) => MaybePromise<PluginEvent | null | undefined | void>;
  onEvent?: (event: Readonly<PluginEvent>, meta: PluginMeta<Config, Global>) => MaybePromise<void>;
  exportEvents?: (events: readonly PluginEvent[], meta: PluginMeta<Config, Global>) => MaybePromise<void>;
  runEveryMinute?: (meta: PluginMeta<Config, Global>) => MaybePromise<void>;
  runEveryHour?: (meta: PluginMeta<Config, Global>) => MaybePromise<void>;
  runEveryDay?: (meta: PluginMeta<Config, Global>) => MaybePromise<void>;
}

/** The names of all hooks, in the order a plugin's life runs them. */
export const hookNames = [
  'setupPlugin',
  'processEvent',
  'onEvent',
  'exportEvents',
  'runEveryMinute',
  'runEveryHour',
  'runEveryDay',
  'teardownPlugin',
] as const satisfies readonly (keyof PluginHooks)[];

/** A plugin: its config schema (optional) plus its hooks. */
export interface Plugin<Schema extends ConfigSchema = ConfigSchema, Global = Record<string, unknown>>
  extends PluginHooks<InferConfig<Schema>, Global> {
  /** The JSON Schema of the config; `meta.config` is typed from it. */
  config?: Schema;
}

/** A plugin whose config type has been erased: what hosts (runtime, harness) hold in lists. */
// biome-ignore lint/suspicious/noExplicitAny: hosts call hooks with configs they validated at run time
export type AnyPlugin = Plugin<any, any>;

/**
 * Defines a plugin. An identity function: it exists so TypeScript infers `meta.config` from the JSON
 * Schema you pass as `config` (no `as const` needed).
 *
 * @example
 * ```ts
 * export default definePlugin({
 *   config: {
 *     type: 'object',
 *     properties: { apiKey: { type: 'string', writeOnly: true }, mode: { enum: ['a', 'b'] } },
 *     required: ['apiKey', 'mode'],
 *   },
 *   processEvent(event, { config }) {
 *     // config: { apiKey: string; mode: 'a' | 'b' }
 *     return { ...event, properties: { ...event.properties, mode: config.mode } };
 *   },
 * });
 * ```
 */
export function definePlugin<const Schema extends ConfigSchema = { type: 'object' }, Global = Record<string, unknown>>(
  plugin: Plugin<Schema, Global>,
): Plugin<Schema, Global> {
  return plugin;
}

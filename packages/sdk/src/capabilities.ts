/**
 * Capabilities: what a plugin may do beyond computing on its events. A manifest REQUESTS capabilities
 * (`plugin.json` `capabilities`), the operator GRANTS them (`plugins.json` `grants`, `plugline install
 * --allow-*`), and the runtime starts a plugin only when every request is granted. Requests and grants
 * are the same strings:
 *
 * - `net:<host>[:<port>]`: connections to that host (a DNS name, `*.suffix`, an IPv4 address or `[IPv6]`),
 *   on that port or on any port when none is named. A granted host is reachable even when it resolves to a
 *   private address (a self-hosted warehouse: `net:127.0.0.1:5432`).
 * - `postgres`: `meta.postgres.query` (the connection itself also needs the database's `net:` grant when
 *   its address is not public).
 * - `wasm`: `WebAssembly` in the plugin's isolate (removed otherwise), its memories bounded in total
 *   (the plugin's `settings.wasmMemoryMb`, default 64).
 *
 * New host services add one entry to {@link capabilityCatalogue}.
 */

/** Every capability kind: whether it names a target (`net:host`) and the `plugline install` flag that grants it. */
export const capabilityCatalogue = {
  net: { takesTarget: true, flag: '--allow-net', description: 'connect to this host (and port), even at a private address' },
  postgres: { takesTarget: false, flag: '--allow-postgres', description: 'query PostgreSQL through meta.postgres.query' },
  wasm: { takesTarget: false, flag: '--allow-wasm', description: 'use WebAssembly (memories bounded in total)' },
} as const satisfies Record<string, { takesTarget: boolean; flag: string; description: string }>;

/** A capability kind of {@link capabilityCatalogue}: `net`, `postgres`, `wasm`. */
export type CapabilityKind = keyof typeof capabilityCatalogue;

/** Capability kinds that are a plain name (no target): `postgres`, `wasm`. */
export const pluginCapabilities = (Object.keys(capabilityCatalogue) as CapabilityKind[]).filter((kind) => !capabilityCatalogue[kind].takesTarget) as unknown as readonly ['postgres', 'wasm'];

/** A capability string, as requested in `plugin.json` and granted in `plugins.json`: `postgres`, `wasm`, `net:api.hubapi.com`, `net:127.0.0.1:5432`. */
export type PluginCapability = 'postgres' | 'wasm' | `net:${string}`;

const hostPart = String.raw`(?:\*\.)?[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?|\[[0-9A-Fa-f:.]+\]`;
const portPart = String.raw`(?::(?:[1-9][0-9]{0,4}))?`;

/** The JSON Schema `pattern` of one capability string (used by the manifest schema). */
export const capabilityPattern = `^(?:${pluginCapabilities.join('|')}|net:(?:${hostPart})${portPart})$`;
const capabilityRegExp = new RegExp(capabilityPattern);

/** A parsed capability: `{ kind: 'postgres' }` or `{ kind: 'net', host, port? }` (host lower-case, no trailing dot, IPv6 without brackets). */
export type ParsedCapability = { kind: Exclude<CapabilityKind, 'net'> } | { kind: 'net'; host: string; port?: number };

/**
 * Parses a capability string; `undefined` when it is not one.
 *
 * @example
 * ```ts
 * parseCapability('net:API.hubapi.com:443'); // { kind: 'net', host: 'api.hubapi.com', port: 443 }
 * parseCapability('postgres'); // { kind: 'postgres' }
 * ```
 */
export function parseCapability(text: string): ParsedCapability | undefined {
  if (typeof text !== 'string' || !capabilityRegExp.test(text)) return undefined;
  if (!text.startsWith('net:')) return { kind: text as Exclude<CapabilityKind, 'net'> };
  const target = text.slice(4);
  let host: string;
  let port: string | undefined;
  if (target.startsWith('[')) {
    const end = target.indexOf(']');
    host = target.slice(1, end);
    port = target.slice(end + 2) || undefined;
  } else {
    const colon = target.lastIndexOf(':');
    host = colon < 0 ? target : target.slice(0, colon);
    port = colon < 0 ? undefined : target.slice(colon + 1);
  }
  const portNumber = port === undefined ? undefined : Number(port);
  if (portNumber !== undefined && (portNumber < 1 || portNumber > 65_535)) return undefined;
  host = host.toLowerCase().replace(/\.$/, '');
  return portNumber === undefined ? { kind: 'net', host } : { kind: 'net', host, port: portNumber };
}

/** The canonical string of a parsed capability (`net:[::1]:80`, `postgres`). */
export function formatCapability(capability: ParsedCapability): PluginCapability {
  if (capability.kind !== 'net') return capability.kind;
  const host = capability.host.includes(':') ? `[${capability.host}]` : capability.host;
  return `net:${host}${capability.port === undefined ? '' : `:${capability.port}`}`;
}

/**
 * Parses and canonicalises a list of capability strings (deduplicated, order kept); throws a `TypeError`
 * naming the first invalid one.
 *
 * @example
 * ```ts
 * normalizeCapabilities(['postgres', 'net:Example.com.', 'postgres']); // ['postgres', 'net:example.com']
 * ```
 */
export function normalizeCapabilities(list: readonly string[]): PluginCapability[] {
  const out: PluginCapability[] = [];
  for (const text of list) {
    const parsed = parseCapability(text);
    if (!parsed) throw new TypeError(`"${text}" is not a capability (expected ${pluginCapabilities.join(', ')} or net:host[:port])`);
    const canonical = formatCapability(parsed);
    if (!out.includes(canonical)) out.push(canonical);
  }
  return out;
}

/** Does a granted host pattern (`example.com`, `*.example.com`) cover a host name? */
export function hostMatches(pattern: string, host: string): boolean {
  const name = host.toLowerCase().replace(/\.$/, '');
  if (pattern.startsWith('*.')) {
    const suffix = pattern.slice(1);
    return name.endsWith(suffix) || name === pattern;
  }
  return name === pattern;
}

/**
 * Does a grant cover a request? Same kind; for `net`, the grant's host covers the request's (equal, or a
 * `*.` wildcard over it) and the grant names no port or the same one.
 *
 * @example
 * ```ts
 * capabilityCovers('net:*.hubapi.com', 'net:api.hubapi.com:443'); // true
 * capabilityCovers('net:api.hubapi.com:443', 'net:api.hubapi.com'); // false: the request wants every port
 * ```
 */
export function capabilityCovers(grant: string, request: string): boolean {
  const g = parseCapability(grant);
  const r = parseCapability(request);
  if (!g || !r || g.kind !== r.kind) return false;
  if (g.kind !== 'net' || r.kind !== 'net') return true;
  if (!hostMatches(g.host, r.host)) return false;
  return g.port === undefined || g.port === r.port;
}

/**
 * The requested capabilities no grant covers (canonical strings, in request order).
 *
 * @example
 * ```ts
 * missingCapabilities(['postgres', 'net:api.hubapi.com'], ['net:api.hubapi.com']); // ['postgres']
 * ```
 */
export function missingCapabilities(requested: readonly string[] | undefined, granted: readonly string[] | undefined): PluginCapability[] {
  const grants = granted ?? [];
  return normalizeCapabilities(requested ?? []).filter((request) => !grants.some((grant) => capabilityCovers(grant, request)));
}

/**
 * The `plugline install` flags that grant capabilities: what error messages tell the operator to add.
 *
 * @example
 * ```ts
 * grantFlags(['net:api.hubapi.com', 'postgres']); // '--allow-net api.hubapi.com --allow-postgres'
 * ```
 */
export function grantFlags(capabilities: readonly string[]): string {
  return capabilities
    .map((text) => {
      const parsed = parseCapability(text);
      if (!parsed) return text;
      const flag = capabilityCatalogue[parsed.kind].flag;
      return parsed.kind === 'net' ? `${flag} ${formatCapability(parsed).slice(4)}` : flag;
    })
    .join(' ');
}

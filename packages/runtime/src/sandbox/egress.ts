import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { type PluginCapability, PluglineError, grantFlags, hostMatches, normalizeCapabilities, parseCapability } from '@plugline/sdk';
import ipaddr from 'ipaddr.js';

/**
 * How a plugin's connections are checked when no `net:` grant names the target:
 * - `public` (default): public unicast addresses are reachable; loopback, private, link-local, CGNAT,
 *   unique-local, IPv4-mapped, multicast, unspecified and reserved addresses are refused.
 * - `granted`: only the hosts granted with `net:` are reachable (an allowlist, public ones included).
 */
export type EgressMode = 'public' | 'granted';

/** Options of {@link EgressPolicy}. */
export interface EgressPolicyOptions {
  /** The plugin's granted capabilities; the `net:` ones open exactly the hosts (and ports) they name. */
  grants?: readonly string[];
  /** Default `public`. */
  mode?: EgressMode;
  /** DNS resolution (all addresses of a name); default `dns.promises.lookup(name, { all: true })`. */
  resolve?: (hostname: string) => Promise<{ address: string; family: number }[]>;
}

/** The decision for one connection: allowed, or the coded error it fails with. */
export type EgressDecision = { allowed: true; grant?: string } | { allowed: false; error: PluglineError };

/**
 * The ipaddr.js range of an address (`unicast`, `loopback`, `private`, `linkLocal`, `carrierGradeNat`,
 * `uniqueLocal`, `ipv4Mapped`, `multicast`, `unspecified`, `reserved`, ...), or `invalid`. Only
 * `unicast` is public.
 */
export function classifyAddress(address: string): string {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  if (!ipaddr.isValid(bare) || isIP(bare.split('%')[0] ?? '') === 0) return 'invalid';
  return ipaddr.parse(bare).range();
}

/** Is this a public unicast address (what the default policy lets a plugin reach)? */
export function isPublicAddress(address: string): boolean {
  return classifyAddress(address) === 'unicast';
}

/** `host:port` as a `--allow-net` value (IPv6 in brackets). */
function target(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function normalizeHost(host: string): string {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  return bare.toLowerCase().replace(/\.$/, '');
}

function sameAddress(a: string, b: string): boolean {
  try {
    return ipaddr.parse(a).toNormalizedString() === ipaddr.parse(b).toNormalizedString() && ipaddr.parse(a).kind() === ipaddr.parse(b).kind();
  } catch {
    return false;
  }
}

/**
 * One plugin's egress rules: which (host, port, resolved address) it may connect to. Every connection
 * a plugin causes (its `fetch` and every redirect hop, `meta.postgres` connections) goes through
 * {@link EgressPolicy.resolve}, and the connection is made to the address it returns (no second DNS
 * lookup, so no DNS rebinding between check and connect).
 *
 * @example
 * ```ts
 * const policy = new EgressPolicy({ grants: ['net:127.0.0.1:5432'] });
 * policy.decide('localhost', 8080, '127.0.0.1'); // { allowed: false, error: ERR_EGRESS_DENIED ... }
 * await policy.resolve('127.0.0.1', 5432); // { address: '127.0.0.1', family: 4 }
 * ```
 */
export class EgressPolicy {
  readonly mode: EgressMode;
  private readonly grants: { text: PluginCapability; host: string; port?: number; address: boolean }[] = [];
  private readonly lookup: (hostname: string) => Promise<{ address: string; family: number }[]>;

  constructor(options: EgressPolicyOptions = {}) {
    this.mode = options.mode ?? 'public';
    this.lookup = options.resolve ?? ((hostname) => lookup(hostname, { all: true, verbatim: true }));
    for (const text of options.grants ?? []) {
      const parsed = parseCapability(text);
      if (parsed?.kind !== 'net') continue;
      this.grants.push({ text: text as PluginCapability, host: parsed.host, ...(parsed.port === undefined ? {} : { port: parsed.port }), address: ipaddr.isValid(parsed.host) && isIP(parsed.host) !== 0 });
    }
  }

  /** Refuses every scheme but http and https (`data:`, `file:`, `blob:`, ...), before anything is resolved. */
  checkUrl(url: URL): void {
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new PluglineError('ERR_EGRESS_DENIED', `fetch of a ${url.protocol} URL is refused by the egress policy: only http and https are allowed`);
    }
  }

  /** The grant naming this connection: its host (name pattern, or the address for an IP grant) and its port, if it names one. */
  private grantFor(hostname: string, port: number, address: string): string | undefined {
    const host = normalizeHost(hostname);
    for (const grant of this.grants) {
      if (grant.port !== undefined && grant.port !== port) continue;
      if (grant.address ? sameAddress(grant.host, address) : hostMatches(grant.host, host)) return grant.text;
    }
    return undefined;
  }

  /**
   * The decision for a connection to `hostname:port` at the resolved `address`: allowed when a `net:`
   * grant names it, else (mode `public`) when the address is public unicast. Refusals are
   * `ERR_EGRESS_DENIED` (a non-public address) or `ERR_CAPABILITY_DENIED` (mode `granted`, no grant),
   * and their message names the `--allow-net` value that would open it.
   */
  decide(hostname: string, port: number, address: string): EgressDecision {
    const grant = this.grantFor(hostname, port, address);
    if (grant) return { allowed: true, grant };
    const host = normalizeHost(hostname);
    const named = target(host, port);
    if (this.mode === 'granted') {
      return {
        allowed: false,
        error: new PluglineError('ERR_CAPABILITY_DENIED', `connecting to ${named} needs the net capability: grant it with ${grantFlags([`net:${named}`])}`),
      };
    }
    const range = classifyAddress(address);
    if (range === 'unicast') return { allowed: true };
    const at = normalizeHost(address) === host ? '' : ` (${address})`;
    return {
      allowed: false,
      error: new PluglineError(
        'ERR_EGRESS_DENIED',
        `connecting to ${named}${at} is refused by the egress policy: a ${range} address; only public addresses are reachable unless granted: grant it with ${grantFlags([`net:${named}`])}`,
      ),
    };
  }

  /**
   * Resolves `hostname` (an IP literal is not looked up) and returns the first address the policy allows
   * for `hostname:port`: the one to connect to. Throws the refusal of the first address when none is.
   */
  async resolve(hostname: string, port: number): Promise<{ address: string; family: 4 | 6 }> {
    const host = normalizeHost(hostname);
    let addresses: { address: string; family: number }[];
    if (isIP(host) !== 0) addresses = [{ address: host, family: isIP(host) }];
    else {
      try {
        addresses = await this.lookup(host);
      } catch (error) {
        throw Object.assign(new Error(`getaddrinfo ${(error as { code?: string }).code ?? 'ENOTFOUND'} ${host}`), { code: (error as { code?: string }).code ?? 'ENOTFOUND' });
      }
    }
    let refusal: PluglineError | undefined;
    for (const candidate of addresses) {
      const decision = this.decide(host, port, candidate.address);
      if (decision.allowed) return { address: candidate.address, family: candidate.family === 6 ? 6 : 4 };
      refusal ??= decision.error;
    }
    throw refusal ?? Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
  }
}

/** What the sandbox host of one plugin is allowed: its egress policy and whether `meta.postgres` works. */
export interface PluginPermissions {
  granted: PluginCapability[];
  egress: EgressPolicy;
  postgres: boolean;
  /** `WebAssembly` stays in the isolate (the `wasm` grant); removed otherwise. */
  wasm: boolean;
}

/** The permissions of a plugin from its `plugins.json` grants and the egress mode (`public` by default). */
export function pluginPermissions(name: string, grants: readonly string[] | undefined, mode: EgressMode = 'public'): PluginPermissions {
  // A typo must not open anything: an unknown mode is an error, not the default.
  if (mode !== 'public' && mode !== 'granted') throw new PluglineError('ERR_BAD_REQUEST', `egress must be "public" or "granted", got ${JSON.stringify(mode)}`);
  let granted: PluginCapability[];
  try {
    granted = normalizeCapabilities(grants ?? []);
  } catch (error) {
    throw new PluglineError('ERR_CAPABILITY_DENIED', `${name}: plugins.json grants: ${(error as Error).message}`);
  }
  return { granted, egress: new EgressPolicy({ grants: granted, mode }), postgres: granted.includes('postgres'), wasm: granted.includes('wasm') };
}

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { PluglineError } from '@plugline/sdk';
import type { Request } from 'express';
import type { MetadataStore, TokenScope } from './store/types.js';

/** Who a request acts as. */
export interface Principal {
  user: string;
  admin: boolean;
  scopes: TokenScope[];
  tokenId?: string;
}

/** Hex sha256 of a token: all the store ever keeps of it. */
export function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** A new token id and secret: `plg_<id>_<secret>`. */
export function generateToken(): { id: string; token: string } {
  const id = randomBytes(8).toString('hex');
  return { id, token: `plg_${id}_${randomBytes(24).toString('base64url')}` };
}

/** The user name of the admin token. */
export const adminUser = 'admin';

function bearer(request: Request): string | undefined {
  const header = request.get('authorization');
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!match?.[1]) throw new PluglineError('ERR_UNAUTHORIZED', 'The Authorization header must be "Bearer <token>"');
  return match[1];
}

/**
 * Resolves the request's bearer token to a principal: the admin token (compared in constant time) or a
 * stored, unrevoked token. No header gives `undefined`; a wrong or revoked token throws `ERR_UNAUTHORIZED`.
 */
export async function authenticate(request: Request, store: MetadataStore, adminToken: string | undefined): Promise<Principal | undefined> {
  const token = bearer(request);
  if (token === undefined) return undefined;
  const hash = hashToken(token);
  if (adminToken && timingSafeEqual(Buffer.from(hash, 'hex'), Buffer.from(hashToken(adminToken), 'hex'))) {
    return { user: adminUser, admin: true, scopes: ['read', 'publish'] };
  }
  const record = await store.findTokenByHash(hash);
  if (!record || record.revokedAt !== undefined) throw new PluglineError('ERR_UNAUTHORIZED', 'The token is unknown or revoked');
  // Older registries minted admin tokens without a `user` as user "admin" (the owner of whatever the admin
  // token published): such a token is refused; the admin mints a new one for a named user.
  if (record.user === adminUser) throw new PluglineError('ERR_UNAUTHORIZED', 'The token has no owner (minted without "user"): mint a new one for a named user');
  return { user: record.user, admin: false, scopes: record.scopes, tokenId: record.id };
}

/** Throws `ERR_UNAUTHORIZED` without a principal, `ERR_FORBIDDEN` without the scope. */
export function requireScope(principal: Principal | undefined, scope: TokenScope): Principal {
  if (!principal) throw new PluglineError('ERR_UNAUTHORIZED', 'This needs a token: Authorization: Bearer <token>');
  if (!principal.admin && !principal.scopes.includes(scope)) {
    throw new PluglineError('ERR_FORBIDDEN', `The token lacks the "${scope}" scope`);
  }
  return principal;
}

/** The owner key of a name: `@scope` for scoped names (the scope owns them all), else the name. */
export function ownerKeyOf(name: string): string {
  return name.startsWith('@') ? name.slice(0, name.indexOf('/')) : name;
}

/** User names: lower-case letters, digits, `.`, `_`, `-`; 1-64 characters. */
export const userNamePattern = /^[a-z0-9][a-z0-9._-]{0,63}$/;

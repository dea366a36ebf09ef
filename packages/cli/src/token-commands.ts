import { PluglineError } from '@plugline/sdk';
import type { Command } from 'commander';
import { clientFor } from './registry-commands.js';
import { type Output, result, table } from './output.js';

const scopeNames = ['read', 'publish'] as const;
type Scope = (typeof scopeNames)[number];

function parseScopes(value: string): Scope[] {
  const scopes = value
    .split(',')
    .map((scope) => scope.trim())
    .filter(Boolean);
  const unknown = scopes.filter((scope) => !(scopeNames as readonly string[]).includes(scope));
  if (scopes.length === 0 || unknown.length > 0) throw new PluglineError('ERR_USAGE', `--scopes takes a comma list of ${scopeNames.join(', ')}, got "${value}"`);
  return scopes as Scope[];
}

/** Registers `whoami` and `token create | list | revoke` (npm's `whoami` and `npm token`). */
export function registerTokenCommands(program: Command, out: Output): void {
  program
    .command('whoami')
    .description('print the user the stored (or given) token belongs to')
    .option('--registry <url>', 'the registry (default: the one you logged in to)')
    .action(async (options: { registry?: string }) => {
      const client = await clientFor(options, true);
      const who = await client.whoami();
      result(out, `${who.user}${who.admin ? ' (admin)' : ''}  scopes: ${who.scopes.join(', ') || '-'}  registry: ${client.url}`, { ...who, registry: client.url });
    });

  const token = program.command('token').description('create, list or revoke registry tokens');
  token
    .command('create')
    .description('mint a token (shown once): for yourself, or as the admin for --user')
    .option('--scopes <list>', 'comma list of scopes: publish, read', 'publish')
    .option('--name <name>', 'a label, e.g. "ci"')
    .option('--user <user>', 'the owner (admin only; default: you)')
    .option('--registry <url>', 'the registry')
    .action(async (options: { scopes: string; name?: string; user?: string; registry?: string }) => {
      const client = await clientFor(options, true);
      const created = await client.createToken({
        scopes: parseScopes(options.scopes),
        ...(options.name ? { name: options.name } : {}),
        ...(options.user ? { user: options.user } : {}),
      });
      result(out, `token ${created.id} for ${created.user} (${created.scopes.join(', ')}), shown once:\n${created.token}`, created);
    });
  token
    .command('list')
    .alias('ls')
    .description('list tokens (never their secrets): yours, or as the admin everyone\'s or --user\'s')
    .option('--user <user>', 'only this user (admin)')
    .option('--registry <url>', 'the registry')
    .action(async (options: { user?: string; registry?: string }) => {
      const client = await clientFor(options, true);
      const tokens = await client.listTokens(options.user ? { user: options.user } : {});
      const rows = tokens.map((entry) => [entry.id, entry.user, entry.scopes.join(','), entry.name ?? '', entry.createdAt.slice(0, 10), entry.revokedAt ? `revoked ${entry.revokedAt.slice(0, 10)}` : 'active']);
      result(out, rows.length > 0 ? table(['id', 'user', 'scopes', 'name', 'created', 'state'], rows) : 'no tokens', { tokens });
    });
  token
    .command('revoke')
    .description('revoke a token by id')
    .argument('<id>', 'the token id (see plugline token list)')
    .option('--registry <url>', 'the registry')
    .action(async (id: string, options: { registry?: string }) => {
      const revoked = await (await clientFor(options, true)).revokeToken(id);
      result(out, `revoked ${revoked.id}`, revoked);
    });
}

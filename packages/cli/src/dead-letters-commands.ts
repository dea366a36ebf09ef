import { PluglineError } from '@plugline/sdk';
import type { Command } from 'commander';
import { type Output, result, table } from './output.js';
import { runtimeRequest, runtimeToken, runtimeUrl } from './runtime-api.js';
import { defaultRuntimeDir } from './runtime-commands.js';

/** The runtime and its admin token for `--runtime`, `--token` and `--dir` (see runtime-api.ts). */
async function target(options: FilterOptions): Promise<{ base: string; token: string }> {
  return { base: runtimeUrl(options.runtime), token: await runtimeToken({ token: options.token, dir: options.dir ?? defaultRuntimeDir() }) };
}

interface FilterOptions {
  runtime?: string;
  token?: string;
  dir?: string;
  plugin?: string;
  hook?: string;
  code?: string;
  from?: string;
  to?: string;
}

const filterOf = (options: FilterOptions) =>
  Object.fromEntries((['plugin', 'hook', 'code', 'from', 'to'] as const).flatMap((key) => (options[key] === undefined ? [] : [[key, options[key]]]))) as Record<string, string>;

function withFilterOptions(command: Command): Command {
  return command
    .option('--runtime <url>', 'the running runtime (default $PLUGLINE_RUNTIME_URL or http://127.0.0.1:7401)')
    .option('--token <token>', 'its admin token (default $PLUGLINE_RUNTIME_ADMIN_TOKEN, else <dir>/admin-token)')
    .option('--dir <dir>', 'the runtime folder holding admin-token (default $PLUGLINE_RUNTIME_DIR or .plugline/runtime)')
    .option('--plugin <name>', 'only this plugin')
    .option('--hook <hook>', 'only this hook (exportEvents, onEvent, ...)')
    .option('--code <code>', 'only this code (ERR_EXPORT_RETRY_EXHAUSTED, ERR_EXPORT_FAILED, ...)')
    .option('--from <date>', 'dead-lettered at or after this time (ISO 8601)')
    .option('--to <date>', 'dead-lettered before this time (ISO 8601)');
}

interface DeadLetterRow {
  id: number;
  plugin: string;
  hook: string;
  code: string;
  attempts: number;
  eventCount: number;
  createdAt: string;
  reason: string;
}

/** `plugline dead-letters list|replay`: a running runtime's dead letters, and re-driving them in bulk. */
export function registerDeadLetterCommands(program: Command, out: Output): void {
  const group = program.command('dead-letters').description("a running runtime's dead letters: list them, replay them by id, plugin, time range or all");

  withFilterOptions(group.command('list').description('list dead letters (oldest first) with plugin, hook, code, attempts, events and reason')).action(
    async (options: FilterOptions) => {
      const { base, token } = await target(options);
      const query = new URLSearchParams(filterOf(options)).toString();
      const { deadLetters } = await runtimeRequest<{ deadLetters: DeadLetterRow[] }>(base, token, 'GET', `/api/dead-letters${query ? `?${query}` : ''}`);
      const rows = deadLetters.map((d) => [String(d.id), d.plugin, d.hook, d.code, String(d.attempts), String(d.eventCount), d.createdAt, d.reason.slice(0, 80)]);
      result(out, deadLetters.length === 0 ? 'no dead letters' : table(['id', 'plugin', 'hook', 'code', 'attempts', 'events', 'created', 'reason'], rows), { deadLetters });
    },
  );

  withFilterOptions(
    group
      .command('replay')
      .description('put dead letters back for delivery: by id, or all that match --plugin/--hook/--code/--from/--to, or --all')
      .argument('[ids...]', 'dead-letter ids'),
  )
    .option('--all', 'replay every dead letter')
    .action(async (ids: string[], options: FilterOptions & { all?: boolean }) => {
      const { base, token } = await target(options);
      const filter = filterOf(options);
      if (ids.length > 0) {
        if (Object.keys(filter).length > 0 || options.all) throw new PluglineError('ERR_USAGE', 'give either ids or filters (--plugin, --hook, --code, --from, --to, --all), not both');
        const replayed: unknown[] = [];
        for (const id of ids) {
          if (!/^[1-9]\d*$/.test(id)) throw new PluglineError('ERR_USAGE', `"${id}" is not a dead-letter id`);
          replayed.push(await runtimeRequest(base, token, 'POST', `/api/dead-letters/${id}/replay`));
        }
        result(out, `replayed ${replayed.length} dead letter${replayed.length === 1 ? '' : 's'}`, { replayed: replayed.length, deadLetters: replayed });
        return;
      }
      if (Object.keys(filter).length === 0 && !options.all) throw new PluglineError('ERR_USAGE', 'give ids, a filter (--plugin, --hook, --code, --from, --to) or --all');
      const answer = await runtimeRequest<{ replayed: number; deadLetters: unknown[] }>(base, token, 'POST', '/api/dead-letters/replay', { ...filter, ...(options.all ? { all: true } : {}) });
      result(out, `replayed ${answer.replayed} dead letter${answer.replayed === 1 ? '' : 's'}`, answer);
    });
}

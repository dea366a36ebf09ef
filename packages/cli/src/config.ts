import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';
import { PluglineError } from '@plugline/sdk';

/** The CLI's config file: the default registry and one token per registry URL. */
export interface CliConfig {
  /** The registry commands use when no `--registry` is given. */
  registry?: string;
  /** Tokens by registry URL (normalized, no trailing slash). */
  tokens: Record<string, string>;
}

/** Where the config lives: `$PLUGLINE_CONFIG`, else `~/.config/plugline/config.json` (`$XDG_CONFIG_HOME` honoured). */
export function configPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.PLUGLINE_CONFIG) return path.resolve(env.PLUGLINE_CONFIG);
  const base = env.XDG_CONFIG_HOME || path.join(homedir(), '.config');
  return path.join(base, 'plugline', 'config.json');
}

/** A registry URL without trailing slashes, so tokens are found however the URL was typed. */
export function normalizeRegistryUrl(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new PluglineError('ERR_USAGE', `"${url}" is not a URL (expected e.g. http://localhost:7400)`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new PluglineError('ERR_USAGE', `"${url}" is not an http(s) URL`);
  return parsed.href.replace(/\/+$/, '');
}

/** Reads the config file (an empty config when there is none). */
export async function readCliConfig(file = configPath()): Promise<CliConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { tokens: {} };
    throw error;
  }
  try {
    const parsed = JSON.parse(text) as Partial<CliConfig>;
    return { ...parsed, tokens: { ...parsed.tokens } };
  } catch (error) {
    throw new PluglineError('ERR_BAD_REQUEST', `${file} is not valid JSON: ${(error as Error).message}`);
  }
}

/** Writes the config file with mode 0600 (it holds tokens), creating its folder (0700). */
export async function writeCliConfig(config: CliConfig, file = configPath()): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFile(file, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  // writeFile's mode only applies when the file is created.
  await chmod(file, 0o600);
}

/**
 * Which registry and token a command uses: `--registry`, else `$PLUGLINE_REGISTRY`, else the config's
 * default; the token from `$PLUGLINE_TOKEN`, else the config's token for that registry.
 */
export async function resolveRegistry(
  options: { registry?: string | undefined },
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ url: string; token: string | undefined }> {
  const config = await readCliConfig(configPath(env));
  const raw = options.registry ?? env.PLUGLINE_REGISTRY ?? config.registry;
  if (!raw) throw new PluglineError('ERR_USAGE', 'no registry: pass --registry URL or run plugline login --registry URL --token TOKEN');
  const url = normalizeRegistryUrl(raw);
  return { url, token: env.PLUGLINE_TOKEN || config.tokens[url] };
}

// Secrets never come back: free text a plugin produces (log lines, error messages, dead-letter reasons)
// is scrubbed of the plugin's own secret config values before it is kept, logged or answered.
import { type ConfigSchema, scrubSecrets, secretValues } from '@plugline/sdk';

/** What the scrubber needs to know about a loaded plugin: its schema and the config it was given. */
export interface SecretSource {
  installed: { manifest: { config: ConfigSchema } };
  entry: { config: Record<string, unknown> };
  config: Record<string, unknown>;
}

const secretsOf = new WeakMap<object, { configs: readonly object[]; secrets: string[] }>();

/** The plugin's secret values (stored config and validated config), computed once per config object. */
export function pluginSecrets(source: SecretSource): string[] {
  const cached = secretsOf.get(source);
  if (cached && cached.configs[0] === source.entry.config && cached.configs[1] === source.config) return cached.secrets;
  const schema = source.installed.manifest.config;
  const secrets = [...new Set([...secretValues(schema, source.entry.config), ...secretValues(schema, source.config)])].sort((a, b) => b.length - a.length);
  secretsOf.set(source, { configs: [source.entry.config, source.config], secrets });
  return secrets;
}

/** `text` with the plugin's secret values replaced by the mask. */
export function scrubText(source: SecretSource, text: string): string {
  const secrets = pluginSecrets(source);
  return secrets.length === 0 ? text : scrubSecrets(text, secrets);
}

/** A JSON value (log fields) with every string scrubbed of the plugin's secret values. */
export function scrubValue<T>(source: SecretSource, value: T): T {
  const secrets = pluginSecrets(source);
  if (secrets.length === 0) return value;
  const walk = (node: unknown, depth: number): unknown => {
    if (typeof node === 'string') return scrubSecrets(node, secrets);
    if (depth > 32 || node === null || typeof node !== 'object') return node;
    if (Array.isArray(node)) return node.map((item) => walk(item, depth + 1));
    return Object.fromEntries(Object.entries(node).map(([key, item]) => [scrubSecrets(key, secrets), walk(item, depth + 1)]));
  };
  return walk(value, 0) as T;
}

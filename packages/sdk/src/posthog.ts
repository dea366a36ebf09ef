import semver from 'semver';
import { type PluginManifest, type ValidationResult, pluginNamePattern, validateManifest } from './manifest.js';
import type { ConfigSchema, JsonSchema } from './plugin.js';
import { SDK_VERSION } from './version.js';

/** One entry of a PostHog `plugin.json` `config` array. */
export interface PostHogConfigField {
  key?: string;
  name?: string;
  type?: 'string' | 'choice' | 'attachment' | 'json';
  default?: string;
  required?: boolean;
  secret?: boolean;
  hint?: string;
  choices?: string[];
  order?: number;
  markdown?: string;
  /** `[otherKey, value?]` pairs, AND-ed; an absent value means "the other field is non-empty". */
  required_if?: [string, string?][];
  visible_if?: [string, string?][];
}

/** A PostHog legacy `plugin.json`. */
export interface PostHogManifest {
  name: string;
  url?: string;
  description?: string;
  main?: string;
  posthogVersion?: string;
  icon?: string;
  stateless?: boolean;
  publicJobs?: Record<string, unknown>;
  config?: PostHogConfigField[] | Record<string, PostHogConfigField>;
}

/**
 * The schema of a config field that holds a file (PostHog's `attachment` type). The runtime hands such
 * values to the plugin as `meta.attachments[key]` (`{ content_type, file_name, contents }`), not in
 * `meta.config`.
 *
 * @example
 * ```ts
 * config: { type: 'object', properties: { rates: attachmentSchema('Exchange rates, JSON') } }
 * ```
 */
export function attachmentSchema(description?: string): JsonSchema {
  return {
    type: 'object',
    'x-attachment': true,
    ...(description ? { description } : {}),
    required: ['contents'],
    additionalProperties: false,
    properties: {
      file_name: { type: 'string' },
      content_type: { type: 'string' },
      contents: { type: 'string' },
    },
  };
}

/** The config keys a schema marks as attachments (`x-attachment: true`). */
export function attachmentKeys(schema: ConfigSchema): string[] {
  return Object.entries(schema.properties ?? {})
    .filter(([, property]) => property['x-attachment'] === true)
    .map(([key]) => key);
}

/**
 * Is this `plugin.json` in PostHog's format (a `config` array, or `posthogVersion`, and no Plugline `sdk`)?
 *
 * @example
 * ```ts
 * if (isPostHogManifest(json)) manifest = convertPostHogManifest(json, { version: '1.0.0' }).value;
 * ```
 */
export function isPostHogManifest(input: unknown): input is PostHogManifest {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return false;
  const candidate = input as Record<string, unknown>;
  if (typeof candidate.sdk === 'string') return false;
  return Array.isArray(candidate.config) || 'posthogVersion' in candidate || (typeof candidate.name === 'string' && !('version' in candidate));
}

/** Options of {@link convertPostHogManifest}. */
export interface ConvertPostHogOptions {
  /** The version to publish (a PostHog manifest has none). */
  version: string;
  /** The npm-style name; defaults to the PostHog name, slugified. */
  name?: string;
  /** The bundled entry file; defaults to `main` with `.ts` replaced by `.js`, or `index.js`. */
  main?: string;
  /** The SDK range; defaults to `^` the current SDK version. */
  sdk?: string;
}

/** `"My Plugin!"` -> `"my-plugin"`: a PostHog display name as an npm-style name. */
export function slugifyPluginName(name: string): string {
  const slug = name
    .toLowerCase()
    .replace(/[^a-z0-9._~-]+/g, '-')
    .replace(/^[^a-z0-9]+|-+$/g, '');
  return slug.slice(0, 214) || 'plugin';
}

/**
 * Converts a PostHog `plugin.json` to a Plugline manifest with an equivalent JSON Schema: every field
 * stays a string (PostHog plugins see strings such as `'true'` and `'10'`), `choice` becomes `enum`,
 * `secret` becomes `writeOnly`, `attachment` becomes {@link attachmentSchema}, `required_if` becomes
 * `if`/`then`, `visible_if` is kept as the `x-visible-if` annotation, and markdown-only entries (docs,
 * not fields) are kept in `x-markdown`. The original is kept under `posthog`.
 *
 * @example
 * ```ts
 * const { value, errors } = convertPostHogManifest(
 *   { name: 'Hello', config: [{ key: 'greeting', type: 'string', default: 'hi' }] },
 *   { version: '1.0.0' },
 * );
 * ```
 */
export function convertPostHogManifest(input: unknown, options: ConvertPostHogOptions): ValidationResult<PluginManifest> {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return { value: undefined, errors: ['(root): must be object'] };
  }
  const original = input as PostHogManifest;
  const errors: string[] = [];
  if (typeof original.name !== 'string' || original.name === '') errors.push('name: is required');
  const fields = normalizeFields(original.config, errors);
  const properties: Record<string, JsonSchema> = {};
  const required: string[] = [];
  const conditions: JsonSchema[] = [];
  const markdown: string[] = [];
  for (const field of fields) {
    if (!field.key) {
      if (field.markdown) markdown.push(field.markdown);
      continue;
    }
    const property = fieldSchema(field, errors);
    properties[field.key] = property;
    if (field.required) {
      required.push(field.key);
      // PostHog's "required" means non-empty, not merely present.
      if (property.type === 'string') property.minLength = 1;
    }
    if (field.required_if?.length) {
      // biome-ignore lint/suspicious/noThenProperty: JSON Schema's if/then keyword, not a thenable
      conditions.push({ if: conditionSchema(field.required_if), then: { required: [field.key] } });
    }
    if (field.visible_if?.length) property['x-visible-if'] = field.visible_if;
  }
  if (errors.length > 0) return { value: undefined, errors };

  const config: ConfigSchema = {
    type: 'object',
    properties,
    ...(required.length ? { required } : {}),
    ...(conditions.length ? { allOf: conditions } : {}),
    ...(markdown.length ? { 'x-markdown': markdown } : {}),
  };
  const sdkVersion = semver.parse(SDK_VERSION);
  const manifest: PluginManifest = {
    name: options.name ?? slugifyPluginName(original.name),
    version: options.version,
    ...(original.description ? { description: original.description.slice(0, 1000) } : {}),
    main: options.main ?? (original.main ? original.main.replace(/\.ts$/, '.js') : 'index.js'),
    sdk: options.sdk ?? `^${sdkVersion ? `${sdkVersion.major}.${sdkVersion.minor}.0` : SDK_VERSION}`,
    config,
    ...(original.url && /^https?:\/\//.test(original.url) ? { homepage: original.url } : {}),
    ...(original.icon ? { icon: original.icon } : {}),
    keywords: ['posthog'],
    posthog: original as unknown as Record<string, unknown>,
  };
  if (!new RegExp(pluginNamePattern).test(manifest.name)) {
    return { value: undefined, errors: [`name: "${manifest.name}" is not a valid package name`] };
  }
  return validateManifest(manifest);
}

function normalizeFields(config: PostHogManifest['config'], errors: string[]): PostHogConfigField[] {
  if (config === undefined) return [];
  const list = Array.isArray(config)
    ? config
    : typeof config === 'object' && config !== null
      ? Object.entries(config).map(([key, field]) => ({ key, ...field }))
      : (errors.push('config: must be an array or an object of fields'), []);
  // PostHog shows fields by `order` when given, else in file order.
  return list
    .map((field, index) => ({ field, index }))
    .sort((a, b) => (a.field.order ?? a.index) - (b.field.order ?? b.index) || a.index - b.index)
    .map(({ field }) => field);
}

function fieldSchema(field: PostHogConfigField, errors: string[]): JsonSchema {
  const key = field.key ?? '?';
  const annotations: JsonSchema = {
    ...(field.name ? { title: field.name } : {}),
    ...(field.hint ? { description: field.hint } : {}),
    ...(field.secret ? { writeOnly: true } : {}),
  };
  switch (field.type ?? 'string') {
    case 'string':
      return { type: 'string', ...annotations, ...(field.default !== undefined ? { default: String(field.default) } : {}) };
    case 'json':
      return { type: 'string', contentMediaType: 'application/json', ...annotations, ...(field.default !== undefined ? { default: String(field.default) } : {}) };
    case 'choice': {
      if (!Array.isArray(field.choices) || field.choices.length === 0) {
        errors.push(`config.${key}.choices: a choice field needs a non-empty choices list`);
        return {};
      }
      return { type: 'string', enum: field.choices.map(String), ...annotations, ...(field.default !== undefined ? { default: String(field.default) } : {}) };
    }
    case 'attachment':
      return { ...attachmentSchema(field.hint), ...annotations };
    default:
      errors.push(`config.${key}.type: must be one of "string", "choice", "attachment", "json"`);
      return {};
  }
}

// `[[k, v], [k2]]` -> an `if` schema: k equals v AND k2 is non-empty.
function conditionSchema(pairs: [string, string?][]): JsonSchema {
  const properties: Record<string, JsonSchema> = {};
  for (const [otherKey, value] of pairs) {
    properties[otherKey] = value === undefined ? { minLength: 1 } : { const: value };
  }
  return { required: pairs.map(([otherKey]) => otherKey), properties };
}

import { _, Ajv2020, type AnySchemaObject, type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';
import standaloneModule from 'ajv/dist/standalone/index.js';
import addFormatsModule from 'ajv-formats';
import { type ConfigErrorDetail, configErrorDetails } from './config-errors.js';
import { PluglineError } from './errors.js';
import { capabilityPattern, type PluginCapability } from './capabilities.js';
import { formats } from './formats.js';
import { validateManifestShape, validateSchemaDraft2020 } from './generated/validators.js';
import type { ConfigSchema } from './plugin.js';
import { re2RegExp, schemaLimitErrors, unsupportedPatternErrors } from './schema-limits.js';

// ajv-formats is CommonJS with a `default` property; under NodeNext the default import is the module object.
type AddFormats = (ajv: Ajv2020) => Ajv2020;
const addFormats: AddFormats =
  (addFormatsModule as unknown as { default?: AddFormats }).default ?? (addFormatsModule as unknown as AddFormats);

type StandaloneCode = (ajv: Ajv2020, refsOrFunc?: ValidateFunction) => string;
const standaloneCode: StandaloneCode =
  (standaloneModule as unknown as { default?: StandaloneCode }).default ?? (standaloneModule as unknown as StandaloneCode);

/** What a validator returns: the validated (possibly defaulted) value, or `path: message` errors. */
export type ValidationResult<T> = { value: T; errors: [] } | { value: undefined; errors: string[] };

/** The manifest of a plugin, `plugin.json`. */
export interface PluginManifest {
  /** npm-style name, scoped allowed: `geoip`, `@acme/geoip`. */
  name: string;
  /** Semver version. */
  version: string;
  description?: string;
  /** The plugin's entry file inside the tarball (one ESM file), e.g. `dist/index.js`. */
  main: string;
  /** Semver range of `@plugline/sdk` the plugin targets, checked by the runtime at install. */
  sdk: string;
  /** JSON Schema (draft 2020-12) of the plugin's config; secrets are marked `writeOnly: true`. */
  config: ConfigSchema;
  keywords?: string[];
  homepage?: string;
  /** URL of the plugin's source repository (shown on its marketplace page). */
  repository?: string;
  /** URL or data: URI of an icon shown in the marketplace. */
  icon?: string;
  license?: string;
  author?: string;
  /**
   * Capabilities the plugin REQUESTS (the operator grants them in `plugins.json` `grants` or with
   * `plugline install --allow-*`; the runtime starts the plugin only when all are granted):
   * `postgres` (SQL through `PluginMeta.postgres`), `net:<host>[:<port>]` (hosts it connects to). See
   * {@link capabilityCatalogue}.
   */
  capabilities?: PluginCapability[];
  /** The original PostHog `plugin.json`, kept when a PostHog plugin was converted. */
  posthog?: Record<string, unknown>;
}

/** npm's package-name rules: lower case, URL-safe, optional `@scope/`, at most 214 characters. */
export const pluginNamePattern = '^(?:@[a-z0-9][a-z0-9._~-]*/)?[a-z0-9][a-z0-9._~-]*$';

/** The JSON Schema of `plugin.json`, published as `@plugline/sdk/manifest.schema.json`. */
export const manifestSchema = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://plugline.dev/schemas/plugin-manifest.json',
  title: 'Plugline plugin manifest (plugin.json)',
  type: 'object',
  required: ['name', 'version', 'main', 'sdk', 'config'],
  additionalProperties: false,
  properties: {
    $schema: { type: 'string' },
    name: { type: 'string', minLength: 1, maxLength: 214, pattern: pluginNamePattern },
    version: { type: 'string', format: 'semver', description: 'Semver version of this release' },
    description: { type: 'string', maxLength: 1000 },
    main: {
      type: 'string',
      minLength: 1,
      pattern: '^(?!/)(?!.*(?:^|/)\\.\\.(?:/|$)).+\\.(?:m?js)$',
      description: 'Entry file inside the tarball (an ESM bundle), relative, no ..',
    },
    sdk: { type: 'string', format: 'semver-range', description: 'Range of @plugline/sdk versions the plugin targets' },
    config: {
      type: 'object',
      description: 'JSON Schema (draft 2020-12) of the config; secrets marked writeOnly',
      required: ['type'],
      properties: { type: { const: 'object' } },
    },
    keywords: { type: 'array', maxItems: 20, items: { type: 'string', minLength: 1, maxLength: 50 } },
    homepage: { type: 'string', format: 'uri' },
    repository: { type: 'string', format: 'uri', maxLength: 2000 },
    icon: { type: 'string', maxLength: 100_000 },
    license: { type: 'string', maxLength: 100 },
    author: { type: 'string', maxLength: 200 },
    capabilities: {
      type: 'array',
      uniqueItems: true,
      maxItems: 100,
      description: 'Capabilities requested (granted by the operator): postgres, wasm, net:<host>[:<port>]',
      items: { type: 'string', pattern: capabilityPattern },
    },
    posthog: { type: 'object', description: 'Original PostHog plugin.json, when converted' },
  },
} as const;

// The two fixed schemas are precompiled at build time (scripts/generate-validators.mjs writes
// generated/validators.ts): plugin.json's, and the JSON Schema 2020-12 meta-schema that ajv checks every
// schema against before compiling it. Compiling them took ~100 ms in each new process (the meta-schema
// once per ajv instance); now only a plugin's own config schema is compiled at run time.
const precompiledManifest = validateManifestShape as unknown as ValidateFunction<PluginManifest>;
const precompiledMetaSchema = validateSchemaDraft2020 as unknown as ValidateFunction<AnySchemaObject>;
const metaSchemaId = 'https://json-schema.org/draft/2020-12/schema';

/** A new ajv instance with the SDK's options and formats, whose meta-schema check is the precompiled one. */
function createAjv(options: { useDefaults?: boolean; code?: { source: true; formats: ReturnType<typeof _> } } = {}): Ajv2020 {
  // addUsedSchema false: a plugin's config schema with an `$id` must not be registered by compile, or
  // the next plugin (or the same one loaded again) with that `$id` fails with "already exists".
  // Patterns of untrusted schemas run on RE2 (linear time): no catastrophic backtracking.
  const { code, ...rest } = options;
  const ajv = new Ajv2020({ allErrors: true, strict: false, addUsedSchema: false, code: { regExp: re2RegExp, ...code }, ...rest });
  addFormats(ajv);
  ajv.addFormat('semver', formats.semver);
  ajv.addFormat('semver-range', formats['semver-range']);
  ajv.addFormat('textarea', formats.textarea);
  // ajv compiles a schema's `validate` on first use unless it has one: `validateSchema`, and `compile`
  // (which checks the schema first), find the meta-schema here and run the precompiled function.
  const meta = ajv.schemas[metaSchemaId];
  if (meta) meta.validate = precompiledMetaSchema;
  return ajv;
}

let ajvInstance: Ajv2020 | undefined;

/** The shared ajv instance (draft 2020-12, formats, `semver` and `semver-range` formats). */
export function getAjv(): Ajv2020 {
  ajvInstance ??= createAjv();
  return ajvInstance;
}

/** Turns ajv errors into `path: message` strings, e.g. `config.apiKey: must be string`. */
export function formatAjvErrors(errors: readonly ErrorObject[] | null | undefined, root = ''): string[] {
  return configErrorDetails(errors, root).map((error) => `${error.path}: ${error.message}`);
}

/**
 * Validates a `plugin.json`: its shape (against {@link manifestSchema}) and that `config` is itself a
 * valid JSON Schema. Returns `{ value, errors }` and never throws.
 *
 * @example
 * ```ts
 * const { value, errors } = validateManifest(JSON.parse(text));
 * if (errors.length) throw new PluglineError('ERR_MANIFEST_INVALID', errors.join('; '), { details: errors });
 * ```
 */
export function validateManifest(input: unknown): ValidationResult<PluginManifest> {
  if (!precompiledManifest(input)) return { value: undefined, errors: formatAjvErrors(precompiledManifest.errors) };
  const manifest = input as PluginManifest;
  // Size, depth and property-count limits first: a refusal, not a schema error (ERR_MANIFEST_INVALID).
  const limitErrors = schemaLimitErrors(manifest.config).map((error) => `config schema ${error}`);
  if (limitErrors.length > 0) return { value: undefined, errors: limitErrors };
  const schemaErrors = validateConfigSchema(manifest.config).errors.map((error) => `config: ${error}`);
  if (schemaErrors.length > 0) return { value: undefined, errors: schemaErrors };
  return { value: manifest, errors: [] };
}

/**
 * Checks that a plugin's config schema is a valid JSON Schema (draft 2020-12) for an object and that
 * ajv can compile it.
 *
 * @example
 * ```ts
 * validateConfigSchema({ type: 'object', properties: { n: { type: 'nope' } } }).errors;
 * // ['properties/n/type: must be equal to one of the allowed values', ...]
 * ```
 */
export function validateConfigSchema(schema: unknown): ValidationResult<ConfigSchema> {
  const ajv = getAjv();
  if (typeof schema !== 'object' || schema === null || Array.isArray(schema)) {
    return { value: undefined, errors: ['must be an object (a JSON Schema)'] };
  }
  if ((schema as { type?: unknown }).type !== 'object') {
    return { value: undefined, errors: ['type: must be "object" (a config is an object)'] };
  }
  const limitErrors = schemaLimitErrors(schema);
  if (limitErrors.length > 0) return { value: undefined, errors: limitErrors };
  const patternErrors = unsupportedPatternErrors(schema);
  if (patternErrors.length > 0) return { value: undefined, errors: patternErrors };
  const { $schema: _declared, ...rest } = schema as Record<string, unknown>;
  if (!ajv.validateSchema(rest)) {
    return {
      value: undefined,
      errors: (ajv.errors ?? []).map((error) => `${error.instancePath.slice(1) || '(root)'}: ${error.message ?? 'is invalid'}`),
    };
  }
  try {
    ajv.compile(rest);
  } catch (error) {
    return { value: undefined, errors: [`(root): ${(error as Error).message}`] };
  } finally {
    // ajv caches every compiled schema by object: a registry checking one schema per publish would
    // keep them all. The check is done; drop it.
    ajv.removeSchema(rest);
  }
  return { value: schema as ConfigSchema, errors: [] };
}

const configValidators = new WeakMap<object, ValidateFunction>();

// The schema ajv compiles for a config: without `$schema`, closed at the root unless it says otherwise.
function closedConfigSchema(schema: ConfigSchema): Record<string, unknown> {
  const { $schema: _declared, ...rest } = schema as Record<string, unknown>;
  return 'additionalProperties' in rest || 'unevaluatedProperties' in rest ? rest : { ...rest, additionalProperties: false };
}

function configSchemaLimitErrors(schema: ConfigSchema): string[] {
  return [...schemaLimitErrors(schema), ...unsupportedPatternErrors(schema)].map((error) => `config schema ${error}`);
}

/**
 * Like {@link validateConfig}, with each error located: `{ path, segments, keyword, message }` (see
 * {@link ConfigErrorDetail}; paths start at `config`), for a caller that puts errors next to fields. A
 * schema past the limits gives one error per limit at `config` with keyword `limits`.
 *
 * @example
 * ```ts
 * validateConfigDetailed({ type: 'object', properties: { n: { type: 'integer' } } }, { n: 'x' }).errors;
 * // [{ path: 'config.n', segments: ['n'], keyword: 'type', message: 'must be integer' }]
 * ```
 */
export function validateConfigDetailed<T = Record<string, unknown>>(
  schema: ConfigSchema,
  config: unknown,
): { value: T; errors: [] } | { value: undefined; errors: ConfigErrorDetail[] } {
  let validate = configValidators.get(schema as object);
  if (!validate) {
    const limitErrors = configSchemaLimitErrors(schema);
    if (limitErrors.length > 0) {
      return { value: undefined, errors: limitErrors.map((message) => ({ path: 'config', segments: [], keyword: 'limits', message })) };
    }
    const closed = closedConfigSchema(schema);
    const ajv = configAjv();
    try {
      validate = ajv.compile(closed);
    } finally {
      // Only the WeakMap below keeps the compiled function (as long as the caller keeps the schema).
      ajv.removeSchema(closed);
    }
    configValidators.set(schema as object, validate);
  }
  const copy = structuredClone(config ?? {});
  if (!validate(copy)) return { value: undefined, errors: configErrorDetails(validate.errors, 'config') };
  return { value: copy as T, errors: [] };
}

/**
 * Validates a config against a plugin's schema: defaults are applied and keys the schema does not
 * declare are rejected (unless the schema sets `additionalProperties` itself). The input is not
 * mutated; `value` is a defaulted copy. `writeOnly` values never appear in the errors.
 *
 * @example
 * ```ts
 * validateConfig({ type: 'object', properties: { n: { type: 'integer', default: 3 } } }, {});
 * // { value: { n: 3 }, errors: [] }
 * ```
 */
export function validateConfig<T = Record<string, unknown>>(schema: ConfigSchema, config: unknown): ValidationResult<T> {
  const result = validateConfigDetailed<T>(schema, config);
  if (result.value === undefined) {
    return { value: undefined, errors: result.errors.map((error) => (error.keyword === 'limits' ? error.message : `${error.path}: ${error.message}`)) };
  }
  return { value: result.value, errors: [] };
}

/**
 * The source of {@link validateConfig}'s validator for one schema as ajv standalone code (CommonJS:
 * `module.exports` is the validate function; same options, defaults, RE2 patterns and formats), for a
 * page whose CSP forbids `eval`: serve it as a script wrapped in `function (require, formats) { ... }`
 * and call that with `configValidatorRequire` and `configValidatorFormats` of `@plugline/sdk/browser`.
 * The code is what ajv generates and the server itself runs; the schema's strings are JSON-escaped.
 * Throws `ERR_MANIFEST_INVALID` for a schema past the limits.
 *
 * @example
 * ```ts
 * const script = `self.validators[${JSON.stringify(id)}] = function (require, formats) { const module = { exports: {} }; ${configValidatorSource(schema)}\nreturn module.exports; };`;
 * ```
 */
export function configValidatorSource(schema: ConfigSchema): string {
  const limitErrors = configSchemaLimitErrors(schema);
  if (limitErrors.length > 0) throw new PluglineError('ERR_MANIFEST_INVALID', limitErrors.join('; '), { details: limitErrors });
  const ajv = createAjv({ useDefaults: true, code: { source: true, formats: _`formats` } });
  return standaloneCode(ajv, ajv.compile(closedConfigSchema(schema)));
}

let configAjvInstance: Ajv2020 | undefined;

// Config validation applies defaults, so it has its own instance (useDefaults changes compiled code).
function configAjv(): Ajv2020 {
  configAjvInstance ??= createAjv({ useDefaults: true });
  return configAjvInstance;
}

// Secrets (writeOnly at every depth) live in secrets.ts; re-exported here because the marketplace's
// browser bundle resolves `@plugline/sdk` to this module.
export { SECRET_MASK, redactConfig, restoreSecrets, scrubSecrets, secretKeys, secretValues } from './secrets.js';

/**
 * The one catalogue of Plugline's coded errors, shared by the SDK, registry, runtime and CLI.
 * Each code has a stable string, an HTTP status (what the registry or runtime answers with) and a
 * default message. Add new codes here, never ad hoc in a package.
 */
export const errorCatalogue = {
  // Manifests, configs and schemas
  ERR_MANIFEST_INVALID: { status: 400, message: 'The plugin manifest (plugin.json) is invalid' },
  ERR_MANIFEST_MISSING: { status: 400, message: 'The tarball has no plugin.json' },
  ERR_CONFIG_SCHEMA_INVALID: { status: 400, message: "The plugin's config is not a valid JSON Schema" },
  ERR_CONFIG_INVALID: { status: 400, message: 'The plugin config does not match its schema' },
  ERR_SDK_INCOMPATIBLE: { status: 400, message: "The plugin targets an SDK version this runtime doesn't provide" },
  ERR_NAME_INVALID: { status: 400, message: 'The plugin name is not a valid package name' },
  ERR_NAME_MISMATCH: { status: 400, message: 'The name in plugin.json does not match the URL' },
  ERR_VERSION_INVALID: { status: 400, message: 'The version is not valid semver' },
  ERR_VERSION_MISMATCH: { status: 400, message: 'The version in plugin.json does not match the URL' },
  ERR_SPEC_INVALID: { status: 400, message: 'The version spec is not a version, range or dist-tag' },
  // Tarballs
  ERR_TARBALL_INVALID: { status: 400, message: 'The tarball is not a valid gzip-compressed tar archive' },
  ERR_TARBALL_TOO_LARGE: { status: 413, message: 'The tarball exceeds the size limit' },
  ERR_TARBALL_UNSAFE_ENTRY: { status: 400, message: 'The tarball has an unsafe entry (absolute path, .., link or device)' },
  ERR_TARBALL_LIMITS: { status: 400, message: 'The tarball exceeds the unpacked size or entry-count limit' },
  ERR_TARBALL_INTEGRITY: { status: 502, message: 'The tarball does not match its integrity checksum' },
  // Registry
  ERR_UNAUTHORIZED: { status: 401, message: 'A valid token is required' },
  ERR_FORBIDDEN: { status: 403, message: 'The token is not allowed to do this' },
  ERR_PLUGIN_NOT_FOUND: { status: 404, message: 'No such plugin' },
  ERR_VERSION_NOT_FOUND: { status: 404, message: 'No version matches' },
  ERR_NOT_FOUND: { status: 404, message: 'Not found' },
  ERR_VERSION_EXISTS: { status: 409, message: 'This version is already published; versions are immutable' },
  ERR_BAD_REQUEST: { status: 400, message: 'The request is malformed' },
  ERR_REGISTRY_UNREACHABLE: { status: 502, message: 'The registry could not be reached' },
  ERR_REGISTRY_RESPONSE: { status: 502, message: 'The registry answered with an error' },
  ERR_STORAGE_FULL: { status: 507, message: 'The server is out of storage space; nothing was written' },
  ERR_NOT_READY: { status: 503, message: 'The service is not ready (e.g. its data folder is not writable)' },
  // Runtime: plugins and events
  ERR_PAYLOAD_INVALID: { status: 400, message: 'The event payload is malformed' },
  ERR_PLUGIN_THREW: { status: 500, message: 'A plugin hook threw' },
  ERR_PLUGIN_TIMEOUT: { status: 500, message: 'A plugin hook exceeded its time limit' },
  ERR_PLUGIN_MEMORY: { status: 500, message: 'A plugin exceeded its memory limit' },
  ERR_PLUGIN_LOAD: { status: 500, message: 'The plugin code could not be loaded' },
  ERR_PLUGIN_NOT_INSTALLED: { status: 404, message: 'The plugin is not installed' },
  ERR_PLUGIN_DISABLED: { status: 409, message: 'The plugin is disabled' },
  ERR_EXPORT_RETRY_EXHAUSTED: { status: 500, message: 'An export batch failed after its last retry' },
  ERR_EXPORT_FAILED: { status: 500, message: 'An export batch failed permanently' },
  ERR_PLUGIN_INTEGRITY: { status: 500, message: "The plugin's code in the cache does not match its verified tarball" },
  ERR_CAPABILITY_DENIED: { status: 403, message: 'The plugin needs a capability the operator has not granted' },
  ERR_EGRESS_DENIED: { status: 403, message: 'The egress policy refuses this connection' },
  ERR_EGRESS_REDIRECTS: { status: 502, message: 'Too many redirects' },
  ERR_RETRY_EXHAUSTED: { status: 500, message: 'A durable retry (onEvent RetryError, ...) failed after its last attempt' },
  ERR_RETRY_FAILED: { status: 500, message: 'A durable retry (onEvent RetryError, ...) failed permanently' },
  ERR_QUOTA_EXCEEDED: { status: 429, message: 'A plugin exceeded one of its quotas (cache, storage, logs, jobs, metrics or captured events)' },
  ERR_UNAVAILABLE: { status: 503, message: 'The runtime cannot take more events now (starting, or its ingest queue is full): retry later' },
  ERR_LOCKFILE_INVALID: { status: 500, message: 'The lockfile is unreadable or does not match the installed plugins' },
  ERR_INTERNAL: { status: 500, message: 'Internal error' },
  // Runtime: live management API
  ERR_PLUGIN_EXISTS: { status: 409, message: 'The plugin is already in the chain' },
  ERR_RUNTIME_UNREACHABLE: { status: 502, message: 'The runtime could not be reached' },
  // CLI
  ERR_USAGE: { status: 400, message: 'The command line is invalid (unknown command, option or missing argument)' },
} as const satisfies Record<string, { status: number; message: string }>;

/** A stable error code from {@link errorCatalogue}, such as `'ERR_CONFIG_INVALID'`. */
export type ErrorCode = keyof typeof errorCatalogue;

/** Options for {@link PluglineError}: the underlying cause and structured details (e.g. validation errors). */
export interface PluglineErrorOptions {
  cause?: unknown;
  details?: readonly string[] | Record<string, unknown>;
}

/**
 * An error with a stable `code` and the HTTP `status` the catalogue gives it.
 *
 * @example
 * ```ts
 * throw new PluglineError('ERR_CONFIG_INVALID', 'config: must have required property "apiKey"');
 * ```
 */
export class PluglineError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly details: readonly string[] | Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message?: string, options: PluglineErrorOptions = {}) {
    super(message ?? errorCatalogue[code].message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'PluglineError';
    this.code = code;
    this.status = errorCatalogue[code].status;
    this.details = options.details;
  }

  /** The JSON body every Plugline HTTP API answers errors with: `{ error: { code, message, details? } }`. */
  toJSON(): { error: { code: ErrorCode; message: string; details?: PluglineError['details'] } } {
    return { error: { code: this.code, message: this.message, ...(this.details ? { details: this.details } : {}) } };
  }
}

/** Which plugin hook was running when something went wrong. */
export type HookName =
  | 'setupPlugin'
  | 'teardownPlugin'
  | 'processEvent'
  | 'onEvent'
  | 'exportEvents'
  | 'runEveryMinute'
  | 'runEveryHour'
  | 'runEveryDay'
  | (string & {});

/**
 * An error raised by (or while running) a plugin's hook, tagged with the plugin's name, version and
 * hook so that logs and `$plugins_failed` say exactly what failed.
 *
 * @example
 * ```ts
 * const error = new PluginError({ plugin: 'geoip', version: '1.0.0', hook: 'processEvent', cause });
 * error.message; // 'geoip@1.0.0 processEvent: <cause message>'
 * ```
 */
export class PluginError extends PluglineError {
  readonly plugin: string;
  readonly version: string;
  readonly hook: HookName;

  constructor(init: {
    plugin: string;
    version: string;
    hook: HookName;
    cause?: unknown;
    code?: Extract<ErrorCode, `ERR_PLUGIN_${string}` | `ERR_EXPORT_${string}`>;
    message?: string;
  }) {
    const reason = init.message ?? describeCause(init.cause);
    super(init.code ?? 'ERR_PLUGIN_THREW', `${init.plugin}@${init.version} ${init.hook}: ${reason}`, {
      cause: init.cause,
    });
    this.name = 'PluginError';
    this.plugin = init.plugin;
    this.version = init.version;
    this.hook = init.hook;
  }
}

/**
 * The {@link PluglineError} a Plugline server's error answer (`{ "error": { code, message, details } }`)
 * stands for, keeping its code, message and details; when the body is not such an answer (or its code
 * is unknown), `ERR_REGISTRY_RESPONSE` naming the request, the status and the message or start of the body.
 *
 * @example
 * ```ts
 * throw errorFromAnswer(400, '{"error":{"code":"ERR_CONFIG_INVALID","message":"bad"}}', 'PUT /api/plugins/x/config');
 * ```
 */
export function errorFromAnswer(status: number, text: string, request: string): PluglineError {
  let body: { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined;
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    body = undefined;
  }
  const code = body?.error?.code;
  const message = typeof body?.error?.message === 'string' ? body.error.message : undefined;
  const details = body?.error?.details;
  const options = typeof details === 'object' && details !== null ? { details: details as readonly string[] | Record<string, unknown> } : {};
  if (typeof code === 'string' && Object.hasOwn(errorCatalogue, code)) return new PluglineError(code as ErrorCode, message, options);
  return new PluglineError('ERR_REGISTRY_RESPONSE', `${request} answered HTTP ${status}${message ? `: ${message}` : text ? `: ${text.slice(0, 200)}` : ''}`, options);
}

/** Is this a {@link PluglineError} (also across realms, where `instanceof` fails)? */
export function isPluglineError(error: unknown): error is PluglineError {
  return (
    error instanceof PluglineError ||
    (typeof error === 'object' &&
      error !== null &&
      typeof (error as { code?: unknown }).code === 'string' &&
      (error as { code: string }).code in errorCatalogue)
  );
}

function describeCause(cause: unknown): string {
  if (cause instanceof Error) return cause.message;
  if (typeof cause === 'string') return cause;
  try {
    return JSON.stringify(cause) ?? String(cause);
  } catch {
    return String(cause);
  }
}

/**
 * Thrown by an export hook to ask the runtime to retry the batch later (with backoff). Any other error
 * thrown by `exportEvents` is permanent and sends the batch to the dead-letter store.
 *
 * @example
 * ```ts
 * async exportEvents(events, { fetch }) {
 *   const response = await fetch(url, { method: 'POST', body: JSON.stringify(events) });
 *   if (response.status === 429 || response.status >= 500) throw new RetryError(`HTTP ${response.status}`);
 * }
 * ```
 */
export class RetryError extends Error {
  /** Which attempt failed (1-based), filled in by the runtime when it reports the error. */
  _attempt?: number;
  /** How many attempts the runtime makes in all. */
  _maxAttempts?: number;

  constructor(message = 'Retry requested') {
    super(message);
    this.name = 'RetryError';
  }
}

/**
 * Is this a {@link RetryError}? Checks the name as well as `instanceof`, because a plugin bundles its
 * own copy of the SDK and runs in a sandbox: its `RetryError` is not the host's class.
 */
export function isRetryError(error: unknown): boolean {
  return (
    error instanceof RetryError ||
    (typeof error === 'object' && error !== null && (error as { name?: unknown }).name === 'RetryError')
  );
}

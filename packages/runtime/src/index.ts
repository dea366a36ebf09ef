/**
 * `@plugline/runtime`: installs plugins from a Plugline registry, runs each in its own V8 isolate,
 * chains them over captured events, stores events and exports them with durable retries.
 */
export { runSandboxedChain, type SandboxedChainFailure, type SandboxedChainResult, type SandboxedStep } from './chain.js';
export { decodeCaptureBody, parseCapturePayload, type ParsedCapture } from './capture.js';
// Install and chain editing, also available alone as `@plugline/runtime/install`.
export * from './installer.js';
export { createRuntimeMetrics, type RuntimeMetrics } from './metrics.js';
export { type ExportSettings, type IngestResult, type PluginErrorRecord, type PluginLogLine, Runtime, type RuntimeOptions } from './runtime.js';
export {
  MemoryCache,
  createSandboxHost,
  locateIp,
  type PluginCacheBackend,
  type PluginSink,
  type PluginStorageBackend,
  type SandboxHostOptions,
} from './sandbox/host.js';
export { type BatchOutcome, batchEventsJson, type LineBatch, PluginSandbox, parseLineBatch, type SandboxHost, type SandboxLimits, type SandboxOptions, toLineBatch } from './sandbox/sandbox.js';
export { type ApiKeyRefusal, ProjectKeys, projectKeyRefusal, requestKeys } from './api-keys.js';
export { adminTokenFileName, apiKeysFromEnv, bearerMatches, faceGuard, isPublicPath, publicPaths, publicPrefixes, requireAdminToken, type ResolvedAdminToken, resolveAdminToken } from './auth.js';
export { createRuntimeApp, type RunningRuntime, type RuntimeAppOptions, type StartRuntimeOptions, startRuntime } from './server.js';
export { type DeadLetter, type EventQuery, type ExportBatch, RuntimeStore } from './store.js';
export {
  type EventSourceOptions,
  type InlineSourceOptions,
  type NatsSourceOptions,
  type RunningEventSource,
  sourceFromEnv,
  startEventSource,
} from './source.js';
export { createRedisPluginState, type SharedPluginState } from './state.js';

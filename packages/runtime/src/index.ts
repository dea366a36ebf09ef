/**
 * `@plugline/runtime`: installs plugins from a Plugline registry, runs each in its own V8 isolate,
 * chains them over captured events, stores events and exports them with durable retries.
 */
export { runSandboxedChain, type SandboxedChainFailure, type SandboxedChainResult, type SandboxedStep } from './chain.js';
export { type CaptureContext, decodeCaptureBody, parseCapturePayload, type ParsedCapture } from './capture.js';
export { eventIp, eventTimestamp, parseTime } from './capture-semantics.js';
// Install and chain editing, also available alone as `@plugline/runtime/install`.
export * from './installer.js';
export {
  type AddPluginRequest,
  type ChangeVersionRequest,
  addLivePlugin,
  changePluginVersion,
  movePlugin,
  removeLivePlugin,
  reorderChain,
  setPluginEnabled,
} from './management.js';
export { createManagementRouter } from './management-routes.js';
// Per-plugin stats, logs and the chain's dry run (GET /api/plugins[/:name[/logs]], POST /api/chain/dry-run).
export { type PluginStats, type PluginTimingStats, TIMING_SAMPLES } from './plugin-stats.js';
export type { PluginDescription, PluginLogQuery } from './plugin-description.js';
export {
  type DryRunInput,
  type DryRunResult,
  type DryRunSkipReason,
  type DryRunStep,
  type DryRunStepStatus,
  type DryRunWebhook,
  dryRunNote,
} from './dry-run.js';
export { createDryRunRouter } from './dry-run-routes.js';
export { createPluginRouter } from './plugin-routes.js';
export { removeRuntimeFile, writeRuntimeFile } from './runtime-file.js';
export { createRuntimeMetrics, type RuntimeMetrics } from './metrics.js';
export { type ExportSettings, type IngestResult, type PluginErrorRecord, type PluginLogLine, type ChainMember, Runtime, type RuntimeOptions } from './runtime.js';
// The egress policy (for host services that open connections on a plugin's behalf).
export { type EgressDecision, type EgressMode, EgressPolicy, type EgressPolicyOptions, classifyAddress, isPublicAddress, pluginPermissions } from './sandbox/egress.js';
export { checkedPostgresConfig, createEgressAgent, egressFetch, maxRedirects } from './sandbox/egress-fetch.js';
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
export {
  POSTHOG_CAPTURE_PATHS,
  POSTHOG_PUBLIC_ROUTES,
  type PostHogRouteOptions,
  captureContext,
  createPostHogRouter,
  flagsAnswer,
  isPostHogPublicPath,
  postHogCors,
  postHogOptionsFromEnv,
} from './posthog-routes.js';
export { createRuntimeApp, type RunningRuntime, type RuntimeAppOptions, type StartRuntimeOptions, startRuntime } from './server.js';
export { type DeadLetter, type DeadLetterFilter, type DeliveryProgress, type EventPage, type EventQuery, type ExportBatch, type PendingRetry, RuntimeStore, defaultEventAnswerBytes } from './store.js';
export { DurableRetries, type RetryHandler, type RetryOutcome } from './durable-retry.js';
export { defaultExportSettings } from './exports.js';
export { backoffMs, defaultRetryPolicy, nextAttempt, type RetryPolicy, retrySchedule } from './retry-policy.js';
export { installProcessGuard, type ProcessGuard } from './process-guard.js';
export { type ApiKeyRefusal, ProjectKeys, projectKeyRefusal, requestKeys } from './api-keys.js';
export { adminTokenFileName, apiKeysFromEnv, bearerMatches, faceGuard, isPublicPath, requireAdminToken, type ResolvedAdminToken, resolveAdminToken } from './auth.js';
export {
  type EventSourceOptions,
  type InlineSourceOptions,
  type NatsSourceOptions,
  type RunningEventSource,
  sourceFromEnv,
  startEventSource,
} from './source.js';
export { createRedisPluginState, type SharedPluginState } from './state.js';

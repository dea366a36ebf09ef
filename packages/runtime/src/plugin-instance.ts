import type { ErrorCode, HookName } from '@plugline/sdk';
import type { InstalledPlugin } from './install.js';
import { PluginStepStats } from './plugin-stats.js';
import type { PluginEntry } from './project.js';
import type { PluginQuotas, QuotaCounter } from './quota.js';
import type { PluginSandbox } from './sandbox/sandbox.js';

/** A log line or error kept for `GET /api/plugins`. */
export interface PluginLogLine {
  at: string;
  level: 'debug' | 'info' | 'warn' | 'error';
  message: string;
  fields?: Record<string, unknown>;
}

/** A recorded plugin failure. */
export interface PluginErrorRecord {
  at: string;
  code: ErrorCode;
  hook: HookName;
  message: string;
  eventUuid?: string;
}

/** One loaded plugin of the chain. */
export class PluginInstance {
  status: 'running' | 'error' | 'disabled' = 'running';
  readonly errorCounts = new Map<string, number>();
  readonly logs: PluginLogLine[] = [];
  readonly errors: PluginErrorRecord[] = [];
  /** What the chain counted for this plugin's processEvent step (plugin-stats.ts); a dry run does not count. */
  readonly stats = new PluginStepStats();
  sandbox: PluginSandbox | undefined;
  config: Record<string, unknown> = {};
  inFlight = 0;
  exporting = false;
  runningJobs = false;
  /** A durable retry (onEvent RetryError, ...) of this plugin is being attempted. */
  retrying = false;
  readonly metricNames = new Set<string>();
  /** What this plugin has used of its quotas (quota.ts), and the quotas in force. */
  quotaCounter: QuotaCounter | undefined;
  quotas: PluginQuotas | undefined;
  logLinesPerSecond = 100;
  logWindow = 0;
  logsInWindow = 0;
  logsSuppressed = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(
    readonly entry: PluginEntry,
    readonly installed: InstalledPlugin,
  ) {}

  get name() {
    return this.installed.name;
  }
  get version() {
    return this.installed.version;
  }
  get label() {
    return `${this.name} (${this.version})`;
  }
  has(hook: string): boolean {
    return this.status === 'running' && this.sandbox !== undefined && this.sandbox.hooks.has(hook);
  }
  enter() {
    this.inFlight += 1;
  }
  leave() {
    this.inFlight -= 1;
    if (this.inFlight === 0 && !this.exporting) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
  idle(): Promise<void> {
    if (this.inFlight === 0 && !this.exporting) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
  exportDone() {
    this.exporting = false;
    if (this.inFlight === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}

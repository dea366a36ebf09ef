// Per-plugin counters and timing of the processEvent step, counted by the chain driver (chain.ts) and
// described by GET /api/plugins. The hot path writes plain numbers and one slot of a typed ring: no
// allocation per event or per crossing.

/** Time per event of a plugin's processEvent step, over its last {@link TIMING_SAMPLES} crossings. */
export interface PluginTimingStats {
  /** Samples in the ring (one per crossing that returned, at most {@link TIMING_SAMPLES}). */
  samples: number;
  /** Median time per event, ms (nearest rank); `null` without samples. */
  p50Ms: number | null;
  /** 99th percentile of the time per event, ms (nearest rank); `null` without samples. */
  p99Ms: number | null;
}

/**
 * What the chain counted for a plugin's processEvent step since the plugin was loaded (runtime start,
 * or its last config, grants or version change). `eventsIn = eventsOut + dropped + failed`; a failed
 * event goes on through the chain as it was before the plugin, but is counted as `failed`, not `eventsOut`.
 * Zeros and `null`s for a plugin without processEvent (or not running).
 */
export interface PluginStats {
  /** Events given to the step (events dropped earlier in the chain are not). */
  eventsIn: number;
  /** Events the step passed on (returned an event). */
  eventsOut: number;
  /** Events the step dropped (returned `null`). */
  dropped: number;
  /** Events the step failed on (threw, timed out, returned an invalid event, or its crossing failed). */
  failed: number;
  timing: PluginTimingStats;
}

/** How many per-event samples a plugin keeps. */
export const TIMING_SAMPLES = 1024;

/**
 * The mutable counters behind {@link PluginStats}: one per plugin instance, written by the chain
 * driver (see `SandboxedStep.stats`), read by {@link PluginStepStats.toJSON}.
 */
export class PluginStepStats {
  eventsIn = 0;
  eventsOut = 0;
  dropped = 0;
  failed = 0;
  private readonly ring = new Float64Array(TIMING_SAMPLES);
  private filled = 0;
  private next = 0;

  /** Records one crossing's time per event, ms (its wall time divided by the events given to it). */
  time(perEventMs: number): void {
    this.ring[this.next] = perEventMs;
    this.next = (this.next + 1) % TIMING_SAMPLES;
    if (this.filled < TIMING_SAMPLES) this.filled += 1;
  }

  /** The counters, and p50/p99 computed from the ring now (nearest rank). */
  toJSON(): PluginStats {
    const sorted = this.ring.slice(0, this.filled).sort();
    return {
      eventsIn: this.eventsIn,
      eventsOut: this.eventsOut,
      dropped: this.dropped,
      failed: this.failed,
      timing: { samples: this.filled, p50Ms: nearestRank(sorted, 50), p99Ms: nearestRank(sorted, 99) },
    };
  }
}

/** The stats of a plugin that has no processEvent step. */
export function emptyPluginStats(): PluginStats {
  return { eventsIn: 0, eventsOut: 0, dropped: 0, failed: 0, timing: { samples: 0, p50Ms: null, p99Ms: null } };
}

/** The nearest-rank percentile `p` (0-100] of sorted values, rounded to 0.1 µs; `null` when empty. */
export function nearestRank(sorted: ArrayLike<number>, p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return Math.round(sorted[rank - 1]! * 10_000) / 10_000;
}

import { PluglineError } from '@plugline/sdk';

/**
 * Bounds on what clients can make the runtime hold: per event and per request after decompression
 * (PostHog's capture refuses events over 1 MiB and requests over 20 MiB; the same here), and the
 * ingest queue (backpressure). See the README's "Limits" table.
 */
export interface IngestLimits {
  /** Characters of one event's JSON (default 1 MiB). A bigger event is refused alone, with its reason. */
  maxEventBytes: number;
  /** Nesting depth of one event (objects and arrays, default 64). A deeper event is refused alone. */
  maxEventDepth: number;
  /** Bytes of one request body after decompression (default 20 MiB): gzip cannot amplify past it. */
  maxRequestBytes: number;
  /** Bytes of request bodies being received and decoded at once (default 128 MiB); past it, 503. */
  maxInflightRequestBytes: number;
  /** Events accepted but not yet stored (queued or in the chain, default 20,000); past it, 503. */
  maxQueuedEvents: number;
  /** Characters of JSON of those events (default 64 MiB); past it, 503. */
  maxQueuedBytes: number;
  /** `Retry-After` of a 503, seconds (default 1). */
  retryAfterSeconds: number;
}

/** Defaults of {@link IngestLimits}. */
export const defaultIngestLimits: IngestLimits = {
  maxEventBytes: 1024 * 1024,
  maxEventDepth: 64,
  maxRequestBytes: 20 * 1024 * 1024,
  maxInflightRequestBytes: 128 * 1024 * 1024,
  maxQueuedEvents: 20_000,
  maxQueuedBytes: 64 * 1024 * 1024,
  retryAfterSeconds: 1,
};

/** The largest inflated size of a gzip capture body: {@link defaultIngestLimits}' `maxRequestBytes`. */
export const MAX_INFLATED_BYTES = defaultIngestLimits.maxRequestBytes;

/** Nesting depth of a JSON text (objects and arrays), scanning it once. */
export function jsonDepth(json: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json.charCodeAt(i);
    if (inString) {
      if (c === 92) i++; // backslash: skip the escaped character
      else if (c === 34) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 123 || c === 91) {
      if (++depth > max) max = depth;
    } else if (c === 125 || c === 93) depth--;
  }
  return max;
}

/** Why an event cannot be processed (too big, too deep, not serialisable), or its JSON size. */
export function measureEvent(event: unknown, limits: Pick<IngestLimits, 'maxEventBytes' | 'maxEventDepth'>): { bytes: number; json: string } | { reason: string; code: 'too_large' | 'too_deep' | 'not_serialisable' } {
  let json: string | undefined;
  try {
    json = JSON.stringify(event);
  } catch (error) {
    // A stack overflow while serialising: far deeper than the limit.
    if (error instanceof RangeError) return { reason: `the event is nested too deep to serialise (the limit is ${limits.maxEventDepth} levels)`, code: 'too_deep' };
    return { reason: `the event is not JSON-serialisable: ${(error as Error).message}`, code: 'not_serialisable' };
  }
  if (json === undefined) return { reason: 'the event is not JSON-serialisable', code: 'not_serialisable' };
  if (json.length > limits.maxEventBytes) return { reason: `the event has ${json.length} characters of JSON (the limit is ${limits.maxEventBytes})`, code: 'too_large' };
  // Cheap first: fewer brackets than the limit cannot nest deeper than it.
  if (json.length > 2 * limits.maxEventDepth) {
    const depth = jsonDepth(json);
    if (depth > limits.maxEventDepth) return { reason: `the event is nested ${depth} levels deep (the limit is ${limits.maxEventDepth})`, code: 'too_deep' };
  }
  // The JSON goes on with the event: the chain's first crossing uses it instead of serialising again.
  return { bytes: json.length, json };
}

/** An event {@link screenEvents} refused: its position, uuid and why. */
export interface RefusedEvent {
  index: number;
  uuid: string;
  reason: string;
}

/**
 * Measures every event of a batch alone: those that can be processed (with their JSON and the total
 * size), and a reason for each one that cannot (`onRefused` gets its code, for the metrics).
 */
export function screenEvents<T>(
  events: readonly T[],
  limits: Pick<IngestLimits, 'maxEventBytes' | 'maxEventDepth'>,
  onRefused: (code: 'too_large' | 'too_deep' | 'not_serialisable') => void = () => {},
): { accepted: T[]; lines: string[]; bytes: number; refused: RefusedEvent[] } {
  let bytes = 0;
  const lines: string[] = [];
  const refused: RefusedEvent[] = [];
  for (let index = 0; index < events.length; index++) {
    const measured = measureEvent(events[index], limits);
    if ('json' in measured) {
      bytes += measured.bytes;
      lines.push(measured.json);
      continue;
    }
    refused.push({ index, uuid: String((events[index] as { uuid?: unknown } | undefined)?.uuid ?? ''), reason: measured.reason });
    onRefused(measured.code);
  }
  if (refused.length === 0) return { accepted: events as T[], lines, bytes, refused };
  const skip = new Set(refused.map((entry) => entry.index));
  return { accepted: events.filter((_, index) => !skip.has(index)), lines, bytes, refused };
}

/** The error a full queue (or a starting runtime) answers: 503 with `Retry-After`. */
export function unavailable(message: string, retryAfterSeconds: number): PluglineError & { retryAfterSeconds: number } {
  return Object.assign(new PluglineError('ERR_UNAVAILABLE', message), { retryAfterSeconds });
}

/**
 * Counts the events (and their bytes) accepted but not yet stored; {@link admit} refuses what
 * would pass the bounds. A batch bigger than the whole queue is admitted when the queue is empty.
 */
export class IngestGate {
  events = 0;
  bytes = 0;
  constructor(readonly limits: IngestLimits) {}
  /** Reserves room for `events` events of `bytes`; throws `ERR_UNAVAILABLE` when it does not fit. */
  admit(events: number, bytes: number): void {
    const empty = this.events === 0;
    if (!empty && (this.events + events > this.limits.maxQueuedEvents || this.bytes + bytes > this.limits.maxQueuedBytes)) {
      throw unavailable(`the ingest queue is full (${this.events} events, ${this.bytes} characters waiting): retry later`, this.limits.retryAfterSeconds);
    }
    this.events += events;
    this.bytes += bytes;
  }
  release(events: number, bytes: number): void {
    this.events = Math.max(0, this.events - events);
    this.bytes = Math.max(0, this.bytes - bytes);
  }
}

/** Bytes of request bodies being received at once, reserved from `Content-Length` (or the per-request cap). */
export class InflightBodies {
  bytes = 0;
  constructor(readonly limits: IngestLimits) {}
  /** Reserves a request's bytes; returns the release function, or undefined when it does not fit (answer 503). */
  reserve(contentLength: number | undefined): (() => void) | undefined {
    const bytes = Math.min(contentLength !== undefined && Number.isFinite(contentLength) && contentLength >= 0 ? contentLength : this.limits.maxRequestBytes, this.limits.maxRequestBytes);
    if (this.bytes > 0 && this.bytes + bytes > this.limits.maxInflightRequestBytes) return undefined;
    this.bytes += bytes;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.bytes -= bytes;
    };
  }
}

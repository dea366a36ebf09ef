// Node's `stream` (readable-stream 4: Node's own streams code, published for non-Node platforms).
// PostHog's plugin server gave `{ PassThrough }`; the whole module is here.
import * as streams from 'readable-stream';

const stream = (streams as unknown as { default?: unknown }).default ?? streams;
const m = stream as Record<string, unknown>;
export const Readable = m.Readable;
export const Writable = m.Writable;
export const Duplex = m.Duplex;
export const Transform = m.Transform;
export const PassThrough = m.PassThrough;
export const pipeline = m.pipeline;
export const finished = m.finished;
export const Stream = m.Stream;
export default stream;

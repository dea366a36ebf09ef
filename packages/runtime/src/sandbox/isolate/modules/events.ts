// Node's `events` (the npm `events` package, Node's EventEmitter for browsers).
import events from 'events';

export const EventEmitter = events.EventEmitter;
export const once = events.once;
export default events;

// readable-stream 4 ships no types; its API is Node's `stream`, as the module re-exports it.
declare module 'readable-stream' {
  const streams: Record<string, unknown>;
  export = streams;
}

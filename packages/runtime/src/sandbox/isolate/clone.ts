/** A JSON-semantics deep copy (events, configs and storage values are JSON): `undefined` for functions and symbols. */
export function cloneJson(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return typeof value === 'function' || typeof value === 'symbol' ? undefined : value;
  const withToJson = value as { toJSON?: unknown };
  if (typeof withToJson.toJSON === 'function') return cloneJson((withToJson.toJSON as () => unknown)());
  if (Array.isArray(value)) {
    const out = new Array<unknown>(value.length);
    for (let i = 0; i < value.length; i++) {
      const v = cloneJson(value[i]);
      out[i] = v === undefined ? null : v;
    }
    return out;
  }
  const out: Record<string, unknown> = {};
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    const v = cloneJson(record[key]);
    if (v !== undefined) out[key] = v;
  }
  return out;
}

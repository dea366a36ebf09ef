// Node's `url` as PostHog plugins use it: the WHATWG URL and URLSearchParams (the isolate's globals).
// The legacy url.parse/format/resolve are not provided.
const g = globalThis as unknown as { URL: unknown; URLSearchParams: unknown };
export const URL = g.URL;
export const URLSearchParams = g.URLSearchParams;
export default { URL, URLSearchParams };

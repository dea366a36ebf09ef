// The little of Node's `process` that readable-stream uses: nextTick on the microtask queue (a bare
// isolate has no timers), an empty env, and a browser-like identity.
const resolved = Promise.resolve();
export function nextTick(callback: (...args: unknown[]) => void, ...args: unknown[]): void {
  resolved.then(() => callback(...args));
}
export const env: Record<string, string> = {};
export const browser = true;
export const version = '';
export const versions: Record<string, string> = {};
export const platform = 'browser';
export function emitWarning(): void {}
export default { nextTick, env, browser, version, versions, platform, emitWarning };

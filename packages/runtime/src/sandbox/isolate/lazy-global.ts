import { defineProperty } from './intrinsics.js';

/**
 * A global whose value is made on first read, then kept as a plain data property (writable,
 * configurable, not enumerable, like the other globals). Writing it before the first read replaces it
 * without making the value.
 */
export function defineLazyGlobal(name: string, make: () => unknown): void {
  const settle = (value: unknown) => {
    defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
    return value;
  };
  defineProperty(globalThis, name, {
    get: () => settle(make()),
    set: (value: unknown) => {
      settle(value);
    },
    configurable: true,
    enumerable: false,
  });
}

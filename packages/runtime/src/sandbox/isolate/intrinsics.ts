/**
 * Built-ins the in-isolate code uses, captured when the prelude bundle is evaluated: before any plugin
 * code runs. A plugin that later overwrites `JSON.parse`, `Reflect.apply` or a `Map` method cannot
 * intercept a bridge call or a cache lookup. Import these instead of reaching for the global.
 */
export const ReflectApply = Reflect.apply;
export const jsonParse = JSON.parse;
export const jsonStringify = JSON.stringify;
export const freeze = Object.freeze;
export const defineProperty = Object.defineProperty;
export const createObject = Object.create;
export const objectKeys = Object.keys;
export const objectEntries = Object.entries;
export const mathMax = Math.max;
export const mathMin = Math.min;
export const isFiniteNumber = Number.isFinite;
export const ArrayIsArray = Array.isArray;
export const PromiseCtor = Promise;
export const PromiseAll = Promise.all.bind(Promise);
export const PromiseResolve = Promise.resolve.bind(Promise);
export const mapGet = Map.prototype.get;
export const mapSet = Map.prototype.set;
export const mapDelete = Map.prototype.delete;
export const mapKeys = Map.prototype.keys;
export const mapSize = Object.getOwnPropertyDescriptor(Map.prototype, 'size')!.get!;

/** A frozen object with a null prototype: `Object.prototype` pollution cannot add keys to it. */
export function frozenRecord<T extends object>(value: T): Readonly<T> {
  return freeze(Object.assign(createObject(null) as T, value));
}

/** Defines a global the way the web platform does: writable, configurable, not enumerable. */
export function defineGlobal(name: string, value: unknown): void {
  defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable: false });
}

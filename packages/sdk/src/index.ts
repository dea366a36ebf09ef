export * from './capabilities.js';
export * from './chain.js';
export * from './errors.js';
export * from './manifest.js';
export * from './plugin.js';
export * from './posthog.js';
export * from './version.js';
export * from './schema-limits.js';

// The typed client lives in its own small package (no server dependencies), so the CLI and the runtime
// use it without installing the registry; `@plugline/registry/client` keeps answering for existing code.
export * from '@plugline/registry-client';

export { type BundleResult, bundlePlugin, conventionalEntries, findEntry } from './bundle.js';
export { type CliConfig, configPath, normalizeRegistryUrl, readCliConfig, resolveRegistry, writeCliConfig } from './config.js';
export { type DevOptions, type DevResult, readEventsFile, runDev, sampleEvents } from './dev.js';
export { type InitOptions, type InitResult, initPlugin } from './init.js';
export { exitCodes, formatError } from './output.js';
export { type PackOptions, type PackResult, packPlugin, readManifest } from './pack.js';
export { createProgram, run } from './program.js';
export { createReproducibleTarball, FIXED_MTIME, integrityOf, type TarballFile, tarballFileName } from './tarball.js';

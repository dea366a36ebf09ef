/**
 * `@plugline/runtime/install`: what installing plugins and editing a runtime's chain needs (resolve,
 * download, verify, unpack, validate; plugins.json and the lockfile), without the sandbox, the HTTP
 * server or the exporters. The CLI's install/uninstall/list/config commands load only this, so a
 * `plugline install` does not pay for isolated-vm, Express, prom-client and pino at startup.
 */
export {
  computeIntegrity,
  defaultInstallLimits,
  type InstalledPlugin,
  type InstallLimits,
  type InstallOptions,
  installPlugin,
  integrityKey,
  loadCachedPlugin,
  parsePluginSpec,
  readTarball,
} from './install.js';
export {
  type AddPluginOptions,
  addPlugin,
  checkConfig,
  installProject,
  type ListedPlugin,
  type LockFile,
  listPlugins,
  type PluginEntry,
  type PluginSettings,
  type ProjectFile,
  projectPaths,
  readLock,
  readProject,
  removePlugin,
  setPluginConfig,
  setPluginGrants,
  writeLock,
  writeProject,
} from './project.js';
export { type RuntimeFile, readRuntimeFile, runtimeFilePath } from './runtime-file.js';

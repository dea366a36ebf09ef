import { type PluginCapability, type PluginManifest, PluglineError, grantFlags, missingCapabilities, normalizeCapabilities } from '@plugline/sdk';

/** What a manifest requests (canonical strings; a malformed list requests nothing it cannot name). */
export function requestedCapabilities(manifest: Pick<PluginManifest, 'capabilities'>): PluginCapability[] {
  try {
    return normalizeCapabilities(manifest.capabilities ?? []);
  } catch {
    return [];
  }
}

/** The operator's grants of one `plugins.json` entry (canonical); `ERR_BAD_REQUEST` for a malformed one. */
export function parseGrants(grants: readonly string[] | undefined, plugin: string): PluginCapability[] {
  try {
    return normalizeCapabilities(grants ?? []);
  } catch (error) {
    throw new PluglineError('ERR_BAD_REQUEST', `${plugin}: grants: ${(error as Error).message}`);
  }
}

/**
 * `ERR_CAPABILITY_DENIED` naming what to grant when a plugin requests capabilities the operator has not
 * granted (a first install without the flags, or an upgrade that asks for more); `undefined` when all are.
 */
export function ungrantedError(plugin: { name: string; version: string; manifest: Pick<PluginManifest, 'capabilities'> }, grants: readonly string[] | undefined): PluglineError | undefined {
  const missing = missingCapabilities(requestedCapabilities(plugin.manifest), grants);
  if (missing.length === 0) return undefined;
  return new PluglineError(
    'ERR_CAPABILITY_DENIED',
    `${plugin.name}@${plugin.version} requests ${missing.join(', ')}, not granted: grant with plugline install ${plugin.name} ${grantFlags(missing)} (or "grants" in plugins.json)`,
    { details: { missing } },
  );
}

import { PluglineError } from '@plugline/sdk';
import semver from 'semver';

/**
 * Resolves a spec against a plugin's versions: a dist-tag, an exact version, or a semver range (the
 * highest satisfying version). Prereleases match only when the spec itself names a prerelease of the
 * same `major.minor.patch` (semver's default). Throws `ERR_VERSION_NOT_FOUND` when nothing matches and
 * `ERR_SPEC_INVALID` for a spec that is none of the three.
 *
 * @example
 * ```ts
 * resolveSpec(['1.0.0', '1.2.0', '2.0.0-beta.1'], { latest: '1.2.0' }, '^1'); // '1.2.0'
 * ```
 */
export function resolveSpec(versions: readonly string[], distTags: Readonly<Record<string, string>>, spec: string): string {
  const trimmed = spec.trim();
  const tagged = Object.hasOwn(distTags, trimmed) ? distTags[trimmed] : undefined;
  if (tagged !== undefined) {
    if (versions.includes(tagged)) return tagged;
    throw new PluglineError('ERR_VERSION_NOT_FOUND', `The dist-tag "${trimmed}" points at a missing version ${tagged}`);
  }
  const exact = semver.valid(trimmed);
  if (exact !== null) {
    if (versions.includes(exact)) return exact;
    throw new PluglineError('ERR_VERSION_NOT_FOUND', `No version ${exact}`);
  }
  if (semver.validRange(trimmed) !== null) {
    const best = semver.maxSatisfying([...versions], trimmed);
    if (best !== null) return best;
    throw new PluglineError('ERR_VERSION_NOT_FOUND', `No version satisfies "${trimmed}"`);
  }
  if (isDistTagName(trimmed)) throw new PluglineError('ERR_VERSION_NOT_FOUND', `No dist-tag "${trimmed}"`);
  throw new PluglineError('ERR_SPEC_INVALID', `"${spec}" is not a version, semver range or dist-tag`);
}

/**
 * Dist-tag names: a letter first, then letters, digits, `_`, `-` (no `.`, which MongoDB would read as a
 * path); never a valid semver range, so a spec is never ambiguous.
 */
export function isDistTagName(tag: string): boolean {
  return /^[a-zA-Z][a-zA-Z0-9_-]{0,63}$/.test(tag) && semver.validRange(tag) === null;
}

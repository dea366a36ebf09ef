import semver from 'semver';

/**
 * Should publishing `version` move `latest` from `current`? Yes when there is no latest, when the new
 * version is a higher release, or when latest is a prerelease and the new version is higher. A
 * prerelease never replaces a release as latest, and a version published under another dist-tag
 * (`tag`, e.g. `beta`) never moves it once it exists (npm's `--tag` convention).
 */
export function shouldBecomeLatest(current: string | undefined, version: string, tag?: string): boolean {
  if (current === undefined || semver.valid(current) === null) return true;
  // Published under another dist-tag (`--tag beta`): latest stays where it is, as with npm.
  if (tag !== undefined && tag !== 'latest') return false;
  if (semver.prerelease(version) !== null && semver.prerelease(current) === null) return false;
  return semver.gt(version, current);
}

import semver from 'semver';

/**
 * Should publishing `version` move `latest` from `current`? Yes when there is no latest, when the new
 * version is a higher release, or when latest is a prerelease and the new version is higher. A
 * prerelease never replaces a release as latest (as npm's `--tag` convention expects).
 */
export function shouldBecomeLatest(current: string | undefined, version: string): boolean {
  if (current === undefined || semver.valid(current) === null) return true;
  if (semver.prerelease(version) !== null && semver.prerelease(current) === null) return false;
  return semver.gt(version, current);
}

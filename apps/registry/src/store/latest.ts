import semver from 'semver';
import type { NpmPackageRecord, NpmVersionRecord } from './types.js';

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

/**
 * The dist-tags of an npm package, derived from its versions in publish order, each with the dist-tag
 * it was published under (none: `latest`): the same rule as a plugin's publish ({@link shouldBecomeLatest}),
 * replayed. Nothing about an npm package is ever updated in place, so a store only inserts versions.
 */
export function npmDistTags(versions: readonly { version: string; tag?: string | undefined }[]): Record<string, string> {
  const distTags: Record<string, string> = {};
  for (const { version, tag } of versions) {
    if (shouldBecomeLatest(distTags.latest, version, tag)) distTags.latest = version;
    if (tag !== undefined && tag !== 'latest') distTags[tag] = version;
  }
  return distTags;
}

/** An npm package record from its versions in publish order; undefined when it has none. */
export function npmPackageOf(name: string, versions: NpmVersionRecord[]): NpmPackageRecord | undefined {
  const [first] = versions;
  const last = versions.at(-1);
  if (!first || !last) return undefined;
  return { name, distTags: npmDistTags(versions), versions, createdAt: first.publishedAt, modifiedAt: last.publishedAt };
}

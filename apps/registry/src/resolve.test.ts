import { PluglineError } from '@plugline/sdk';
import { describe, expect, it } from 'vitest';
import { isDistTagName, resolveSpec } from './resolve.js';
import { searchPlugins } from './search.js';
import { shouldBecomeLatest } from './store/latest.js';

const versions = ['0.9.0', '1.0.0', '1.2.0', '1.10.0-beta.1', '2.0.0-alpha.1', '2.0.0-alpha.3'];
const tags = { latest: '1.2.0', next: '2.0.0-alpha.3', broken: '9.9.9' };

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
    return undefined;
  } catch (error) {
    return (error as PluglineError).code;
  }
}

describe('resolveSpec', () => {
  it.each([
    ['latest', '1.2.0'],
    ['next', '2.0.0-alpha.3'],
    ['1.0.0', '1.0.0'],
    ['v1.0.0', '1.0.0'],
    [' 1.0.0 ', '1.0.0'],
    ['^1.0.0', '1.2.0'],
    ['*', '1.2.0'],
    ['', '1.2.0'],
    ['<1', '0.9.0'],
    ['^1.10.0-beta.0', '1.10.0-beta.1'],
    ['>=2.0.0-alpha.2', '2.0.0-alpha.3'],
    ['2.0.0-alpha.1', '2.0.0-alpha.1'],
  ])('%j -> %s', (spec, expected) => {
    expect(resolveSpec(versions, tags, spec)).toBe(expected);
  });

  it.each(['^3', '1.0.1', 'stable', 'broken'])('%j -> ERR_VERSION_NOT_FOUND', (spec) => {
    expect(codeOf(() => resolveSpec(versions, tags, spec))).toBe('ERR_VERSION_NOT_FOUND');
  });

  it('never lets a prerelease satisfy a plain range', () => {
    expect(codeOf(() => resolveSpec(['2.0.0-alpha.1'], {}, '^2'))).toBe('ERR_VERSION_NOT_FOUND');
  });

  it('does not treat inherited object keys as dist-tags', () => {
    expect(codeOf(() => resolveSpec(versions, tags, 'constructor'))).toBe('ERR_VERSION_NOT_FOUND');
  });

  it('answers ERR_SPEC_INVALID for nonsense', () => {
    const error = (() => {
      try {
        resolveSpec(versions, tags, '%%%');
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(PluglineError);
    expect((error as PluglineError).code).toBe('ERR_SPEC_INVALID');
    expect((error as PluglineError).status).toBe(400);
  });
});

describe('isDistTagName', () => {
  it.each(['latest', 'next', 'beta-2', 'rc_1'])('accepts %j', (tag) => expect(isDistTagName(tag)).toBe(true));
  it.each(['1.x', 'x', '2', '', '-a', 'a.b', '$ne', 'a/b', 'a'.repeat(65)])('rejects %j', (tag) => expect(isDistTagName(tag)).toBe(false));
});

describe('shouldBecomeLatest', () => {
  it.each([
    [undefined, '1.0.0', true],
    [undefined, '1.0.0-beta.1', true],
    ['1.0.0', '1.0.1', true],
    ['1.0.0', '0.9.0', false],
    ['1.0.0', '2.0.0-beta.1', false],
    ['2.0.0-beta.1', '2.0.0-beta.2', true],
    ['2.0.0-beta.1', '1.0.0', false],
    ['2.0.0-beta.1', '2.0.0', true],
  ])('latest %s, publishing %s -> %s', (current, version, expected) => {
    expect(shouldBecomeLatest(current, version)).toBe(expected);
  });
});

describe('searchPlugins', () => {
  const summaries = [
    { name: 'geoip', description: 'Country from IP', keywords: ['enrich'], version: '1.0.0', downloads: 5, modifiedAt: '' },
    { name: '@acme/geo', description: 'Geo fences', keywords: ['geo'], version: '1.0.0', downloads: 0, modifiedAt: '' },
    { name: 'labeler', description: 'Labels geo events', keywords: ['label'], version: '1.0.0', downloads: 1000, modifiedAt: '' },
  ];
  it('weighs an exact (unscoped) name above a name prefix above a description, whatever the downloads', () => {
    expect(searchPlugins(summaries, { q: 'geo', keywords: [], page: 1, size: 10 }).results.map((hit) => hit.name)).toEqual([
      '@acme/geo',
      'geoip',
      'labeler',
    ]);
  });
  it('orders an empty query by downloads and pages it', () => {
    const result = searchPlugins(summaries, { q: '', keywords: [], page: 2, size: 2 });
    expect(result).toMatchObject({ total: 3, results: [{ name: '@acme/geo' }] });
  });
  it('filters by keyword case-insensitively', () => {
    expect(searchPlugins(summaries, { q: '', keywords: ['ENRICH'], page: 1, size: 10 }).results.map((hit) => hit.name)).toEqual(['geoip']);
  });
});

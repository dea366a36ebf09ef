import type { SearchHit } from './api-types.js';
import type { PluginSummary } from './store/types.js';

/**
 * Orders of search results (`sort=`): `relevance` (the default: text score, then downloads),
 * `downloads` (all-time, most first), `recent` (latest publish or dist-tag change first), `name` (A to Z).
 */
export const searchSorts = ['relevance', 'downloads', 'recent', 'name'] as const;
/** One of {@link searchSorts}. */
export type SearchSort = (typeof searchSorts)[number];

/** Whether `value` is one of {@link searchSorts}. */
export function isSearchSort(value: unknown): value is SearchSort {
  return (searchSorts as readonly unknown[]).includes(value);
}

/** A parsed search request. */
export interface SearchOptions {
  q: string;
  keywords: string[];
  page: number;
  size: number;
  /** Default `relevance`. */
  sort?: SearchSort;
}

function scoreText(summary: PluginSummary, term: string): number {
  const name = summary.name.toLowerCase();
  const bareName = name.startsWith('@') ? name.slice(name.indexOf('/') + 1) : name;
  let score = 0;
  if (name === term || bareName === term) score += 100;
  else if (bareName.startsWith(term)) score += 20;
  else if (name.includes(term)) score += 10;
  for (const keyword of summary.keywords) {
    const lower = keyword.toLowerCase();
    if (lower === term) score += 8;
    else if (lower.includes(term)) score += 3;
  }
  if (summary.description?.toLowerCase().includes(term)) score += 4;
  return score;
}

/**
 * Ranks plugins for a query: every whitespace-separated term must match the name, a keyword or the
 * description (name matches weigh most, then keywords, then description); a small log-scaled
 * download boost breaks near-ties. `keywords` filters to plugins having all of them. Engine-independent,
 * so both stores rank identically.
 */
export function searchPlugins(summaries: readonly PluginSummary[], options: SearchOptions): { total: number; results: SearchHit[] } {
  const terms = options.q.toLowerCase().split(/\s+/).filter(Boolean);
  const wanted = options.keywords.map((keyword) => keyword.toLowerCase());
  const hits: SearchHit[] = [];
  const modifiedAt = new Map<string, string>();
  for (const summary of summaries) {
    const keywords = summary.keywords.map((keyword) => keyword.toLowerCase());
    if (!wanted.every((keyword) => keywords.includes(keyword))) continue;
    let score = 0;
    let matchedAll = true;
    for (const term of terms) {
      const termScore = scoreText(summary, term);
      if (termScore === 0) {
        matchedAll = false;
        break;
      }
      score += termScore;
    }
    if (!matchedAll) continue;
    score += Math.log10(summary.downloads + 1);
    const hit: SearchHit = {
      name: summary.name,
      keywords: summary.keywords,
      version: summary.version,
      downloads: summary.downloads,
      score: Math.round(score * 1000) / 1000,
    };
    if (summary.description !== undefined) hit.description = summary.description;
    hits.push(hit);
    modifiedAt.set(summary.name, summary.modifiedAt);
  }
  const byName = (a: SearchHit, b: SearchHit) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
  const sort = options.sort ?? 'relevance';
  if (sort === 'name') hits.sort(byName);
  else if (sort === 'downloads') hits.sort((a, b) => b.downloads - a.downloads || b.score - a.score || byName(a, b));
  else if (sort === 'recent') {
    const at = (hit: SearchHit) => Date.parse(modifiedAt.get(hit.name) ?? '') || 0;
    hits.sort((a, b) => at(b) - at(a) || byName(a, b));
  } else hits.sort((a, b) => b.score - a.score || b.downloads - a.downloads || a.name.localeCompare(b.name));
  const start = (options.page - 1) * options.size;
  return { total: hits.length, results: hits.slice(start, start + options.size) };
}

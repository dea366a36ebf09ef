import type { SearchHit } from './api-types.js';
import type { PluginSummary } from './store/types.js';

/** A parsed search request. */
export interface SearchOptions {
  q: string;
  keywords: string[];
  page: number;
  size: number;
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
  }
  hits.sort((a, b) => b.score - a.score || b.downloads - a.downloads || a.name.localeCompare(b.name));
  const start = (options.page - 1) * options.size;
  return { total: hits.length, results: hits.slice(start, start + options.size) };
}

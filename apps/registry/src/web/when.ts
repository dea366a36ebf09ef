import { html, type SafeHtml } from './html.js';

const units: readonly (readonly [Intl.RelativeTimeFormatUnit, number])[] = [
  ['year', 365 * 86_400_000],
  ['month', 30 * 86_400_000],
  ['week', 7 * 86_400_000],
  ['day', 86_400_000],
  ['hour', 3_600_000],
  ['minute', 60_000],
];
const relative = new Intl.RelativeTimeFormat('en-US', { numeric: 'auto' });

/**
 * How long ago `then` was, in the largest whole unit ("3 days ago", "yesterday", "2 months ago");
 * under a minute (or a clock slightly ahead) is "just now".
 */
export function relativeTime(then: Date, now: Date): string {
  const elapsed = now.getTime() - then.getTime();
  for (const [unit, ms] of units) {
    if (elapsed >= ms) return relative.format(-Math.floor(elapsed / ms), unit);
  }
  return 'just now';
}

/** `<time>` with the relative text and the absolute UTC date and time (`2026-12-01 14:03 UTC`) next to it. */
export function relativeAndAbsolute(iso: string | undefined, now: Date): SafeHtml {
  const parsed = iso ? new Date(iso) : undefined;
  if (!parsed || Number.isNaN(parsed.getTime())) return html`<span class="empty">unknown</span>`;
  const absolute = `${parsed.toISOString().replace('T', ' ').slice(0, 16)} UTC`;
  return html`<time datetime="${parsed.toISOString()}" title="${absolute}">${relativeTime(parsed, now)}</time> <span class="absolute">(${absolute})</span>`;
}

/** The newest `publishedAt` of `records` (ISO strings compare in time order), or undefined for none. */
export function latestPublish(records: readonly { publishedAt: string }[]): string | undefined {
  let latest: string | undefined;
  for (const record of records) if (latest === undefined || record.publishedAt > latest) latest = record.publishedAt;
  return latest;
}

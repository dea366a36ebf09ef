import { html, type SafeHtml } from './html.js';

/** One day of a downloads series. */
export interface DailyCount {
  /** UTC day, `YYYY-MM-DD`. */
  day: string;
  count: number;
}

/** UTC `YYYY-MM-DD` of a date. */
export function utcDay(date: Date): string {
  return date.toISOString().slice(0, 10);
}

/**
 * The last `days` UTC days up to and including `today`, oldest first, with the count from `daily`
 * (the registry's rows, one per day with downloads) or 0 for days without downloads.
 */
export function lastDays(daily: readonly DailyCount[], days: number, today: Date): DailyCount[] {
  const byDay = new Map<string, number>();
  for (const row of daily) byDay.set(row.day, (byDay.get(row.day) ?? 0) + row.count);
  const series: DailyCount[] = [];
  const end = Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate());
  for (let offset = days - 1; offset >= 0; offset--) {
    const day = utcDay(new Date(end - offset * 86_400_000));
    const count = byDay.get(day);
    series.push({ day, count: typeof count === 'number' && Number.isFinite(count) && count > 0 ? count : 0 });
  }
  return series;
}

const width = 300;
const height = 64;

/**
 * A small inline SVG bar chart of downloads per day (no script, no external assets). The SVG is an
 * image to assistive technology, labelled with the total and the peak; each bar has a `<title>` tooltip.
 */
export function renderDownloadsChart(series: readonly DailyCount[], labelId: string): SafeHtml {
  const total = series.reduce((sum, point) => sum + point.count, 0);
  const peak = series.reduce((max, point) => Math.max(max, point.count), 0);
  const slot = width / Math.max(series.length, 1);
  const bars = series.map((point, index) => {
    // Days with no downloads still get a 1px baseline so the time axis stays readable.
    const barHeight = peak === 0 ? 1 : Math.max(1, Math.round((point.count / peak) * (height - 4)));
    return html`<rect class="${point.count > 0 ? 'bar' : 'bar bar-empty'}" x="${(index * slot + 1).toFixed(1)}" y="${height - barHeight}" width="${Math.max(slot - 2, 1).toFixed(1)}" height="${barHeight}"><title>${point.day}: ${point.count} ${point.count === 1 ? 'download' : 'downloads'}</title></rect>`;
  });
  const first = series[0]?.day ?? '';
  const last = series[series.length - 1]?.day ?? '';
  const summary = `${total} ${total === 1 ? 'download' : 'downloads'} from ${first} to ${last}${peak > 0 ? `, at most ${peak} a day` : ''}`;
  return html`<svg class="chart" viewBox="0 0 ${width} ${height}" preserveAspectRatio="none" role="img" aria-labelledby="${labelId}" focusable="false" xmlns="http://www.w3.org/2000/svg"><title id="${labelId}">${summary}</title>${bars}</svg>`;
}

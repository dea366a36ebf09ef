// A minimal escaping template for the console's server-rendered pages: every interpolated value is
// escaped unless it is the output of another `html` template, so plugin-supplied text (names, log and
// error messages, capability strings) never becomes markup.

/** Markup produced by {@link html}. */
export class Markup {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value;
  }
}

/** What an `html` template accepts: nothing renders for `null`, `undefined` and `false`; arrays are joined. */
export type Renderable = Markup | string | number | boolean | null | undefined | readonly Renderable[];

const escapes: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for HTML content and quoted attribute values. */
export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => escapes[char] ?? char);
}

function render(value: Renderable): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof Markup) return value.value;
  if (Array.isArray(value)) return value.map((item: Renderable) => render(item)).join('');
  return escapeHtml(String(value));
}

/** Tagged template producing {@link Markup}, escaping every value that is not markup already. */
export function html(strings: TemplateStringsArray, ...values: Renderable[]): Markup {
  let out = strings[0] ?? '';
  values.forEach((value, index) => {
    out += render(value) + (strings[index + 1] ?? '');
  });
  return new Markup(out);
}

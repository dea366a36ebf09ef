import { Marked } from 'marked';
import sanitizeHtml from 'sanitize-html';
import { type SafeHtml, trustedHtml } from './html.js';

// Its own Marked instance, so no other code's `marked.use(...)` can change how READMEs render.
const markdown = new Marked({ gfm: true, breaks: false });

// The page has its <h1> (the plugin name) and the README section's <h2>: README headings start at <h3>.
const headingShift: Record<string, string> = { h1: 'h3', h2: 'h4', h3: 'h5', h4: 'h6', h5: 'h6', h6: 'h6' };

/**
 * The allowlist READMEs are sanitized with. Everything not listed is removed: `<script>`, `<style>`,
 * `<iframe>`, forms, event-handler attributes (`onerror=`), `style`, and `id`/`name` (which could clobber
 * the page's own elements). Links and images keep only `http:`, `https:` (and `mailto:` for links) URLs,
 * so `javascript:` and `data:` URLs are dropped.
 */
const sanitizeOptions: sanitizeHtml.IOptions = {
  allowedTags: [
    'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'p', 'br', 'hr', 'blockquote', 'pre', 'code', 'kbd', 'samp', 'var',
    'ul', 'ol', 'li', 'dl', 'dt', 'dd', 'a', 'img', 'em', 'strong', 'b', 'i', 'u', 's', 'del', 'ins', 'mark',
    'sub', 'sup', 'small', 'abbr', 'q', 'cite', 'span', 'div', 'details', 'summary', 'figure', 'figcaption',
    'table', 'thead', 'tbody', 'tfoot', 'tr', 'th', 'td', 'caption', 'input',
  ],
  allowedAttributes: {
    a: ['href', 'title', 'rel', 'target'],
    img: ['src', 'alt', 'title', 'width', 'height', 'loading'],
    th: ['align', 'colspan', 'rowspan'],
    td: ['align', 'colspan', 'rowspan'],
    ol: ['start'],
    abbr: ['title'],
    details: ['open'],
    input: ['type', 'checked', 'disabled'],
  },
  allowedClasses: { code: ['language-*'], pre: ['language-*'] },
  allowedSchemes: ['http', 'https', 'mailto'],
  allowedSchemesByTag: { img: ['http', 'https'] },
  allowedSchemesAppliedToAttributes: ['href', 'src', 'cite'],
  allowProtocolRelative: false,
  // Dropped with their content, not just unwrapped.
  nonTextTags: ['script', 'style', 'textarea', 'option', 'noscript', 'template', 'iframe', 'object', 'embed', 'svg', 'math'],
  transformTags: {
    ...Object.fromEntries(Object.entries(headingShift).map(([from, to]) => [from, sanitizeHtml.simpleTransform(to, {})])),
    // Links leave the site without passing it referrer or opener access, and tell crawlers it's user content.
    a: (tagName, attribs) => ({
      tagName,
      attribs: { ...attribs, rel: 'nofollow noopener noreferrer ugc', ...(attribs.target ? { target: '_blank' } : {}) },
    }),
    img: (tagName, attribs) => ({ tagName, attribs: { ...attribs, loading: 'lazy' } }),
    // GFM task-list boxes only: never a live form control.
    input: (_tagName, attribs) =>
      attribs.type === 'checkbox'
        ? { tagName: 'input', attribs: { type: 'checkbox', disabled: '', ...(attribs.checked !== undefined ? { checked: '' } : {}) } }
        : { tagName: 'span', attribs: {} },
  },
};

/**
 * Renders a plugin README (Markdown, possibly with inline HTML) to HTML that is safe to put in the
 * marketplace page: GitHub-flavoured Markdown via `marked`, then an allowlist sanitizer (`sanitize-html`)
 * that removes scripts, event handlers, inline styles and non-http(s) URLs. Headings are shifted down one
 * levels (`#` becomes `<h3>`) to sit under the page's `<h1>` and the README section's `<h2>`.
 *
 * @example
 * ```ts
 * renderReadme('# Geo\n<img src=x onerror=alert(1)>').value; // '<h3>Geo</h3>\n<p><img src="x" loading="lazy" /></p>'
 * ```
 */
export function renderReadme(source: string): SafeHtml {
  const unsafe = markdown.parse(source, { async: false });
  // Each table scrolls sideways in its own box instead of squeezing its cells. The sanitizer allows no
  // attribute on <table> and escapes `<` in text, so every `<table>` left in its output is an element.
  const safe = sanitizeHtml(unsafe, sanitizeOptions).replace(/<table>/g, '<div class="table-scroll"><table>').replace(/<\/table>/g, '</table></div>');
  return trustedHtml(safe);
}

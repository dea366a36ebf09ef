import { describe, expect, it } from 'vitest';
import { renderReadme } from './readme.js';

const render = (source: string) => renderReadme(source).value;

describe('renderReadme', () => {
  it('renders GitHub-flavoured Markdown with headings shifted below the page title', () => {
    const out = render('# Geo\n\nSome *text* and `code`.\n\n| a | b |\n| - | - |\n| 1 | 2 |\n\n```js\nlet x = 1;\n```\n');
    expect(out).toContain('<h3>Geo</h3>');
    expect(render('## a\n### b\n#### c\n##### d\n###### e')).toBe('<h4>a</h4>\n<h5>b</h5>\n<h6>c</h6>\n<h6>d</h6>\n<h6>e</h6>\n');
    expect(out).toContain('<em>text</em>');
    expect(out).toContain('<code>code</code>');
    expect(out).toMatch(/<table>[\s\S]*<td>1<\/td>/);
    expect(out).toContain('<code class="language-js">let x = 1;\n</code>');
    expect(out).not.toMatch(/<h[12]/);
  });

  it('removes script elements together with their content', () => {
    const out = render('Hi\n\n<script>window.pwned = 1</script>\n\n<SCRIPT src="https://evil.test/x.js"></SCRIPT>');
    expect(out).not.toMatch(/script/i);
    expect(out).not.toContain('pwned');
    expect(out).toContain('<p>Hi</p>');
  });

  it('strips event-handler attributes and inline styles', () => {
    const out = render('<img src="https://example.com/a.png" onerror="alert(1)" style="position:fixed">\n\n<p onclick="alert(2)">x</p>');
    expect(out).not.toMatch(/onerror|onclick|alert|style=/i);
    expect(out).toContain('<img src="https://example.com/a.png" loading="lazy" />');
  });

  it('drops javascript:, data: and vbscript: URLs from Markdown and HTML links and images', () => {
    const out = render(
      '[md](javascript:alert(1)) <a href="JaVaScRiPt:alert(2)">html</a> <a href=" javascript:alert(3)">sp</a> ' +
        '<a href="data:text/html,<script>alert(4)</script>">data</a> <a href="vbscript:msgbox">vb</a> ![i](data:image/svg+xml,x)',
    );
    expect(out).not.toMatch(/javascript|vbscript|data:|alert/i);
    expect(out).toContain('>md</a>');
  });

  it('keeps http(s), mailto and relative links, marked as user content that opens nothing', () => {
    const out = render('[site](https://example.com) [mail](mailto:a@example.com) [rel](docs/setup.md)');
    expect(out).toContain('<a href="https://example.com" rel="nofollow noopener noreferrer ugc">site</a>');
    expect(out).toContain('href="mailto:a@example.com"');
    expect(out).toContain('href="docs/setup.md"');
  });

  it('removes iframes, forms, svg, ids and names that could clobber the page', () => {
    const out = render(
      '<iframe src="https://evil.test"></iframe><form action="/x"><input name="q"><button>go</button></form>' +
        '<svg><script>alert(1)</script></svg><div id="config-schema" name="x">clobber</div><style>body{display:none}</style>',
    );
    expect(out).not.toMatch(/iframe|<form|<button|<svg|alert|id=|name=|<style|display:none/i);
    expect(out).toContain('<div>clobber</div>');
  });

  it('keeps GFM task lists as disabled checkboxes', () => {
    const out = render('- [x] done\n- [ ] todo\n');
    expect(out).toContain('<input type="checkbox" disabled checked />');
    expect(out).toContain('<input type="checkbox" disabled />');
  });

  it('escapes HTML-looking text in code spans and blocks', () => {
    const out = render('`<script>alert(1)</script>`\n\n    <img onerror=x>\n');
    expect(out).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(out).toContain('&lt;img onerror=x&gt;');
    expect(out).not.toContain('<script');
  });
});

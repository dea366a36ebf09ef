/**
 * Instant search on the home page: results update while typing (debounced, earlier requests aborted),
 * the URL keeps the query (`/?q=`), and the arrow keys move between the search box and the results.
 * The server renders the same markup for the first page load and for browsers without JavaScript.
 */

/** @typedef {{ name: string; description?: string; keywords: string[]; version: string; downloads: number }} SearchHit */
/** @typedef {{ total: number; page: number; size: number; results: SearchHit[] }} SearchResult */

const pageSize = 20;
const debounceMs = 120;

/** @param {number} count */
export function downloadsText(count) {
  return `${count.toLocaleString('en-US')} ${count === 1 ? 'download' : 'downloads'}`;
}

/** @param {string} name */
export function pluginHref(name) {
  return `/plugins/${encodeURIComponent(name)}`;
}

/**
 * The status line above the results, the same wording as the server's `searchStatusText`.
 * @param {number} total @param {number} page @param {number} shown @param {string} query
 */
export function statusText(total, page, shown, query) {
  const what = query ? ` matching “${query}”` : '';
  if (total === 0) return query ? `No plugins match “${query}”.` : 'No plugins are published yet.';
  const count = `${total} ${total === 1 ? 'plugin' : 'plugins'}${what}`;
  if (page === 1 && shown >= total) return `${count}.`;
  const first = (page - 1) * pageSize + 1;
  return shown === 0 ? `${count}; page ${page} is past the end.` : `${count}, showing ${first}–${first + shown - 1}.`;
}

/** The same URL as the server's `searchHref`. @param {string} query @param {number} page @param {string} [sort] */
function searchHref(query, page, sort = 'relevance') {
  const params = new URLSearchParams();
  if (query) params.set('q', query);
  if (sort !== 'relevance') params.set('sort', sort);
  if (page > 1) params.set('page', String(page));
  const search = params.toString();
  return search ? `/?${search}` : '/';
}

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag @param {string} [className] @param {string} [text]
 * @returns {HTMLElementTagNameMap[K]}
 */
function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** One result, built with DOM calls only (names and descriptions are plugin-supplied text). @param {SearchHit} hit */
function renderHit(hit) {
  const item = element('li', 'result');
  const heading = element('h3', 'result-name');
  const link = element('a', undefined, hit.name);
  link.href = pluginHref(hit.name);
  heading.append(link, ' ', element('span', 'version', `v${hit.version}`));
  item.append(heading);
  if (hit.description) item.append(element('p', 'description', hit.description));
  if (hit.keywords.length > 0) {
    const keywords = element('ul', 'keywords');
    keywords.setAttribute('aria-label', 'Keywords');
    for (const keyword of hit.keywords) keywords.append(element('li', undefined, keyword));
    item.append(keywords);
  }
  item.append(element('p', 'downloads', downloadsText(hit.downloads)));
  return item;
}

export function initSearch() {
  const form = document.getElementById('search-form');
  const input = document.getElementById('q');
  const list = document.getElementById('results');
  const status = document.getElementById('results-status');
  const pager = document.getElementById('pager');
  const sortSelect = document.getElementById('sort');
  /** The chosen order (`relevance` when the page has no select). */
  const sort = () => (sortSelect instanceof HTMLSelectElement ? sortSelect.value : 'relevance');
  if (!(form instanceof HTMLFormElement) || !(input instanceof HTMLInputElement) || !list || !status || !pager) return;

  /** @type {AbortController | undefined} */
  let inFlight;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  let lastQuery = input.value.trim();

  /** @param {string} query @param {number} page @param {number} total */
  function renderPager(query, page, total) {
    if (!pager) return;
    const pages = Math.ceil(total / pageSize);
    /** @type {HTMLAnchorElement[]} */
    const links = [];
    for (const [target, rel, text] of /** @type {const} */ ([[page - 1, 'prev', 'Previous page'], [page + 1, 'next', 'Next page']])) {
      if (target < 1 || target > pages) continue;
      const link = element('a', undefined, text);
      link.rel = rel;
      link.href = searchHref(query, target, sort());
      link.dataset.page = String(target);
      links.push(link);
    }
    pager.replaceChildren(...links);
    pager.hidden = links.length === 0;
  }

  /** @param {string} query @param {number} [page] */
  async function run(query, page = 1) {
    inFlight?.abort();
    const controller = new AbortController();
    inFlight = controller;
    list?.setAttribute('aria-busy', 'true');
    try {
      const params = new URLSearchParams({ q: query, size: String(pageSize), page: String(page), sort: sort() });
      const response = await fetch(`/api/v1/search?${params}`, { signal: controller.signal, headers: { accept: 'application/json' } });
      if (!response.ok) throw new Error(`search answered ${response.status}`);
      /** @type {SearchResult} */
      const result = await response.json();
      if (controller.signal.aborted || !list || !status) return;
      list.replaceChildren(...result.results.map(renderHit));
      status.textContent = statusText(result.total, page, result.results.length, query);
      renderPager(query, page, result.total);
      window.history.replaceState(null, '', searchHref(query, page, sort()));
    } catch (error) {
      if (controller.signal.aborted || !status) return;
      status.textContent = `Search failed (${error instanceof Error ? error.message : 'unknown error'}); press Enter to retry.`;
    } finally {
      if (inFlight === controller) list?.removeAttribute('aria-busy');
    }
  }

  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      const query = input.value.trim();
      if (query === lastQuery) return;
      lastQuery = query;
      run(query);
    }, debounceMs);
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    clearTimeout(timer);
    lastQuery = input.value.trim();
    run(lastQuery);
  });

  // A new order reloads the first page in place (without this script the form's Search button sends it).
  sortSelect?.addEventListener('change', () => {
    clearTimeout(timer);
    lastQuery = input.value.trim();
    run(lastQuery);
  });

  // Page links load in place; the server renders the same links for browsers without this script.
  pager.addEventListener('click', (event) => {
    const link = event.target instanceof Element ? event.target.closest('a[data-page]') : null;
    if (!(link instanceof HTMLAnchorElement)) return;
    event.preventDefault();
    run(lastQuery, Number(link.dataset.page)).then(() => {
      status?.scrollIntoView({ block: 'nearest' });
      resultLinks()[0]?.focus();
    });
  });

  /** @returns {HTMLAnchorElement[]} */
  const resultLinks = () => Array.from(list.querySelectorAll('.result-name a'));
  input.addEventListener('keydown', (event) => {
    if (event.key === 'ArrowDown') {
      const first = resultLinks()[0];
      if (first) {
        event.preventDefault();
        first.focus();
      }
    }
  });
  list.addEventListener('keydown', (event) => {
    const links = resultLinks();
    const index = links.findIndex((link) => link === document.activeElement);
    if (index < 0) return;
    if (event.key === 'ArrowDown' && index < links.length - 1) {
      event.preventDefault();
      links[index + 1]?.focus();
    } else if (event.key === 'ArrowUp') {
      event.preventDefault();
      if (index === 0) input.focus();
      else links[index - 1]?.focus();
    } else if (event.key === 'Escape') {
      event.preventDefault();
      input.focus();
    }
  });
}

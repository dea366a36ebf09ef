import { html, type Markup, type Renderable } from './html.js';
import type { ConsoleSession } from './session.js';

// The frame every console page shares (head, navigation, sign-out, the flash message) and the small
// pieces every action form uses: the CSRF field and a one-button POST form.

/** What a page needs to know about the request that asked for it. */
export interface PageContext {
  /** The signed-in session (absent when the request came with the Bearer header instead). */
  session: ConsoleSession | undefined;
  /** The runtime folder, shown in the header. */
  dir: string;
}

const sections = [
  { id: 'chain', href: '/console', label: 'Chain' },
  { id: 'install', href: '/console/install', label: 'Install' },
  { id: 'exports', href: '/console/exports', label: 'Exports' },
  { id: 'tester', href: '/console/tester', label: 'Event tester' },
] as const;

/** A console section, for the navigation's current-page mark. */
export type Section = (typeof sections)[number]['id'] | 'login';

/** The hidden `_csrf` field of a console form (nothing when the request used the Bearer header). */
export function csrfField(context: PageContext): Markup {
  return context.session ? html`<input type="hidden" name="_csrf" value="${context.session.csrf}">` : html``;
}

/** A form with one submit button posting to `action`, with hidden `fields`. */
export function postButton(context: PageContext, action: string, label: string, options: { fields?: Record<string, string>; className?: string; ariaLabel?: string } = {}): Markup {
  const fields = Object.entries(options.fields ?? {});
  return html`<form method="post" action="${action}" class="inline">${csrfField(context)}${fields.map(([name, value]) => html`<input type="hidden" name="${name}" value="${value}">`)}<button type="submit" class="${options.className ?? ''}"${options.ariaLabel ? html` aria-label="${options.ariaLabel}"` : ''}>${label}</button></form>`;
}

/** The flash message a page shows once (then cleared from the session). */
function flash(context: PageContext): Markup {
  const message = context.session?.flash;
  if (!message || !context.session) return html``;
  delete context.session.flash;
  return html`<p class="flash flash-${message.kind}" role="${message.kind === 'error' ? 'alert' : 'status'}">${message.text}</p>`;
}

/**
 * A whole console page. `scripts`: the page has a config form: it loads /console/console.js and the
 * validator script of each schema id given (`/console/config-validator/<id>.js`, see routes.ts).
 */
export function page(context: PageContext, options: { title: string; section: Section; body: Renderable; scripts?: readonly string[] }): string {
  const signedIn = options.section !== 'login';
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${options.title} · Plugline runtime</title>
<link rel="icon" href="/console/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/console/console.css">
${options.scripts ? html`<script src="/console/console.js" defer></script>${options.scripts.map((id) => html`<script src="/console/config-validator/${id}.js" defer></script>`)}` : ''}
</head>
<body>
<header>
<h1><a href="/console">Plugline runtime</a></h1>
${signedIn ? html`<p class="dir">${context.dir}</p>` : ''}
${
  signedIn
    ? html`<nav aria-label="Console">${sections.map((section) => html`<a href="${section.href}"${section.id === options.section ? html` aria-current="page"` : ''}>${section.label}</a>`)}${
        context.session ? html`<form method="post" action="/console/logout" class="inline">${csrfField(context)}<button type="submit" class="link">Sign out</button></form>` : ''
      }</nav>`
    : ''
}
</header>
<main>
${flash(context)}
${options.body}
</main>
</body>
</html>
`.value;
}

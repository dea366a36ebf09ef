import { PluglineError, isPluglineError } from '@plugline/sdk';
import express, { type Request, type Response } from 'express';
import { refuseCrossSite } from '../management-routes.js';
import type { PageContext } from './layout.js';
import type { ConsoleSession, ConsoleSessions } from './session.js';

// How a console form is handled: the body is parsed once (URL-encoded), the request must come from
// this site (Sec-Fetch-Site / Origin) and, from a signed-in browser, carry the session's CSRF token.
// The handler then answers a page itself, or names where to go: the browser is redirected there
// (303, so a reload does not post again) with the outcome as the next page's flash message. A coded
// error from the handler becomes that flash message on the page the form came from.

/** What a console form handler gets. */
export interface ActionInput {
  req: Request;
  res: Response;
  form: URLSearchParams;
  context: PageContext;
}

/** Where to go after an action, and the message to show there. */
export interface ActionOutcome {
  redirect: string;
  message?: string;
}

const formBody = express.text({ type: 'application/x-www-form-urlencoded', limit: '1mb' });

/** The page context of a console request (its session, when it came with the cookie). */
export function pageContext(res: Response, dir: string): PageContext {
  return { session: res.locals.consoleSession as ConsoleSession | undefined, dir };
}

/**
 * Express handlers for a console form: cross-site check, body, CSRF, then `handler`. `back` is where a
 * coded error is shown (the form's page). A handler that sent an answer itself returns `undefined`.
 */
export function consoleAction(
  sessions: ConsoleSessions,
  dir: string,
  back: (req: Request) => string,
  handler: (input: ActionInput) => Promise<ActionOutcome | undefined>,
): express.RequestHandler[] {
  return [
    refuseCrossSite,
    formBody,
    async (req: Request, res: Response) => {
      const context = pageContext(res, dir);
      const form = new URLSearchParams(typeof req.body === 'string' ? req.body : '');
      if (context.session && !sessions.csrfMatches(context.session, form.get('_csrf'))) {
        throw new PluglineError('ERR_FORBIDDEN', 'The form is stale or was not sent by the console (CSRF token): reload the page');
      }
      let outcome: ActionOutcome | undefined;
      try {
        outcome = await handler({ req, res, form, context });
      } catch (error) {
        // Without a session (the Bearer header) there is no page to carry the message: the JSON error answers.
        if (!isPluglineError(error) || !context.session) throw error;
        const coded = error as PluglineError;
        context.session.flash = { kind: 'error', text: `${coded.code}: ${coded.message}` };
        res.redirect(303, back(req));
        return;
      }
      if (!outcome) return;
      if (outcome.message && context.session) context.session.flash = { kind: 'ok', text: outcome.message };
      res.redirect(303, outcome.redirect);
    },
  ];
}

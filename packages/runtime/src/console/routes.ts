import express, { type Response } from 'express';
import type { Runtime } from '../runtime.js';
import { renderChainPage } from './chain-page.js';
import { consoleCss } from './style.js';

// The runtime console's routes under /console (read-only so far: the chain page).

const policy = ["default-src 'none'", "style-src 'self'", "img-src 'self'", "base-uri 'none'", "form-action 'self'", "frame-ancestors 'none'"].join('; ');
const favicon = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 16 16"><rect width="16" height="16" rx="3" fill="#1d2330"/><path d="M4 4h5a3 3 0 0 1 0 6H6v2H4z" fill="#fff"/></svg>';

function send(res: Response, type: string, body: string, cache: string) {
  res.set({ 'Content-Type': type, 'Content-Security-Policy': policy, 'X-Content-Type-Options': 'nosniff', 'Referrer-Policy': 'no-referrer', 'Cache-Control': cache }).send(body);
}

/** `GET /console` (the chain page), `/console/console.css`, `/console/favicon.svg`. */
export function createConsoleRouter(runtime: Runtime): express.Router {
  const router = express.Router();
  router.get(['/console', '/console/'], (_req, res) => send(res, 'text/html; charset=utf-8', renderChainPage(runtime), 'no-store'));
  router.get('/console/console.css', (_req, res) => send(res, 'text/css; charset=utf-8', consoleCss, 'no-cache'));
  router.get('/console/favicon.svg', (_req, res) => send(res, 'image/svg+xml', favicon, 'max-age=86400'));
  return router;
}

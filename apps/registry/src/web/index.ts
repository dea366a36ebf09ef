import { Router } from 'express';
import type { MetadataStore } from '../store/types.js';

/** What the marketplace web pages get from the registry. */
export interface WebContext {
  store: MetadataStore;
  /** Base URL for absolute links, when the registry knows its public address. */
  publicUrl?: string;
}

/**
 * The marketplace pages, mounted at `/` after the API routes and `/metrics`. A stub for now: the
 * marketplace is built separately.
 */
export function createWebRouter(_context: WebContext): Router {
  return Router();
}

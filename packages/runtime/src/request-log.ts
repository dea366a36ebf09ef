import type { NextFunction, Request, Response } from 'express';
import type { Logger } from 'pino';

/**
 * Marks a request as a rejected payload: the request log then writes a `warn` line with `reason` (never
 * the body, which may hold personal data or secrets) instead of its `debug` line.
 */
export function markRejected(res: Response, reason: string): void {
  res.locals.rejectedReason = reason;
}

/**
 * One log line per request once it is answered: `debug` `request` with method, path (no query string:
 * it may carry an API key), status and milliseconds; `warn` `payload rejected` with the reason for
 * requests marked with {@link markRejected}.
 */
export function requestLogger(logger: Logger) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const fields = { method: req.method, path: req.path, status: res.statusCode, ms: Number(process.hrtime.bigint() - started) / 1e6 };
      const reason = res.locals.rejectedReason as string | undefined;
      if (reason !== undefined) logger.warn({ ...fields, reason }, 'payload rejected');
      else if (logger.isLevelEnabled('debug')) logger.debug(fields, 'request');
    });
    next();
  };
}

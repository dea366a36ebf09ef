// Structured config errors from ajv's error objects, with no runtime dependency: the same code maps
// errors on the server (validateConfigDetailed) and in a browser (a standalone validator's errors).
import type { ErrorObject } from 'ajv/dist/2020.js';

/** One error of a config, located: `segments` are the raw keys and indices, `path` their dotted join. */
export interface ConfigErrorDetail {
  /** `segments` joined with `.` after `root`, e.g. `config.headers.0.name`, or `(root)`. */
  path: string;
  /** The keys and array indices (as strings) from the config's root to the value, unescaped. */
  segments: string[];
  /** The ajv keyword that failed (`required`, `type`, `pattern`, ...), or `limits` for a refused schema. */
  keyword: string;
  /** A short sentence, e.g. `is required`, `must be integer`. */
  message: string;
}

/**
 * Turns ajv error objects into {@link ConfigErrorDetail}s: the error's instance path split into keys
 * (JSON Pointer unescaped), the missing key added for `required` and the unknown one for
 * `additionalProperties`, and friendlier messages for those and `enum`.
 *
 * @example
 * ```ts
 * configErrorDetails([{ instancePath: '/headers/0', keyword: 'required', params: { missingProperty: 'name' }, schemaPath: '', message: '' }], 'config');
 * // [{ path: 'config.headers.0.name', segments: ['headers', '0', 'name'], keyword: 'required', message: 'is required' }]
 * ```
 */
export function configErrorDetails(errors: readonly ErrorObject[] | null | undefined, root = ''): ConfigErrorDetail[] {
  return (errors ?? []).map((error) => {
    const segments = error.instancePath
      .split('/')
      .slice(1)
      .map((segment) => segment.replace(/~1/g, '/').replace(/~0/g, '~'));
    let message = error.message ?? 'is invalid';
    if (error.keyword === 'required') {
      segments.push(String(error.params.missingProperty));
      message = 'is required';
    } else if (error.keyword === 'additionalProperties') {
      segments.push(String(error.params.additionalProperty));
      message = 'is not allowed (unknown key)';
    } else if (error.keyword === 'enum') {
      message = `must be one of ${(error.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    }
    const path = [root, ...segments].filter(Boolean).join('.') || '(root)';
    return { path, segments, keyword: error.keyword, message };
  });
}

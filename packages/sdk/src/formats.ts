import { fullFormats } from 'ajv-formats/dist/formats.js';
import validVersion from 'semver/functions/valid.js';
import validRange from 'semver/ranges/valid.js';

/**
 * Every string format the SDK's validators know: ajv-formats' full set plus `semver` (a version) and
 * `semver-range`, and `textarea` (any string: a hint for forms). The runtime ajv instances add these, and the precompiled validators in
 * `generated/validators.ts` read them from here, so both check formats with the very same code.
 * Only the two semver modules are imported, not all of `semver`.
 */
export const formats = {
  ...fullFormats,
  semver: (value: string): boolean => validVersion(value) !== null,
  'semver-range': (value: string): boolean => validRange(value) !== null,
  // A UI hint, not a check: a multi-line string (the runtime console renders a textarea).
  textarea: (_value: string): boolean => true,
};

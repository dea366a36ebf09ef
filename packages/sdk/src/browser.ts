// The browser-safe part of the SDK (`@plugline/sdk/browser`): no Node APIs and no ajv compile, so a
// page under a CSP without 'unsafe-eval' can run a config validator the server generated
// (configValidatorSource) and report its errors the way the server does.
export { type ConfigErrorDetail, configErrorDetails } from './config-errors.js';
export { configValidatorFormats, configValidatorRequire } from './config-validator-runtime.js';
export { SECRET_MASK } from './secrets.js';

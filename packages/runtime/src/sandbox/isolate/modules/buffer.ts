// `import { Buffer } from 'buffer'`: the isolate's Buffer global (the npm `buffer` package).
export { Buffer, default, kMaxLength } from './buffer-shim.js';

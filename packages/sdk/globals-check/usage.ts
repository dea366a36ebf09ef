// Type-checked against globals.d.ts alone (lib es2022, no DOM, no Node): what plugin code may use, and
// what it may not (`tsc -p tsconfig.globals.json` in the SDK's typecheck script).
console.log('hello', { a: 1 });
const response = await fetch(new URL('https://api.example.test/v1?x=1'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
const data: unknown = response.ok ? await response.json() : await response.text();
const params = new URLSearchParams({ q: String(data) });
params.append('page', '2');
const bytes = new TextEncoder().encode(btoa(atob('aGk=')));
new TextDecoder().decode(crypto.getRandomValues(new Uint8Array(bytes.length)));
const id: string = crypto.randomUUID();
structuredClone({ id });
posthog.capture('derived', { id });
throw new RetryError('later');

// @ts-expect-error there is no process in the sandbox
process.exit(1);
// @ts-expect-error nor timers
setTimeout(() => {}, 1);
// @ts-expect-error nor a DOM
document.title;
// @ts-expect-error nor require
require('fs');
export {};

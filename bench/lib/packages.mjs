// The small packages published to both registries: each tarball carries a plugin.json (for Plugline)
// AND a package.json (for npm/Verdaccio), so the very same bytes go to both servers.
import { createHash } from 'node:crypto';
import { createReproducibleTarball } from '@plugline/cli';
import { SDK_VERSION } from '@plugline/sdk';

const sdkRange = `^${SDK_VERSION}`;

/** Name of the i-th benchmark package. */
export function benchPackageName(index) {
  return `bench-pkg-${String(index).padStart(3, '0')}`;
}

/** `{ name, version, tarball, integrity, shasum, description }` of a small dual-format package. */
export async function makePackage(name, version) {
  const description = `Benchmark package ${name}: adds a property to every event.`;
  const manifest = {
    name,
    version,
    description,
    main: 'index.js',
    sdk: sdkRange,
    license: 'MIT',
    config: { type: 'object', properties: { value: { type: 'string', default: 'bench' } } },
    keywords: ['bench', 'transformation'],
  };
  const packageJson = { name, version, description, main: 'index.js', license: 'MIT', type: 'module', keywords: ['bench'] };
  const tarball = await createReproducibleTarball([
    { path: 'plugin.json', content: `${JSON.stringify(manifest, null, 2)}\n` },
    { path: 'package.json', content: `${JSON.stringify(packageJson, null, 2)}\n` },
    {
      path: 'index.js',
      content: 'export function processEvent(event, { config }) {\n  event.properties.bench = config.value;\n  return event;\n}\n',
    },
    { path: 'README.md', content: `# ${name}\n\n${description}\n` },
  ]);
  return {
    name,
    version,
    description,
    packageJson,
    tarball,
    integrity: `sha512-${createHash('sha512').update(tarball).digest('base64')}`,
    shasum: createHash('sha1').update(tarball).digest('hex'),
  };
}

/** Publishes to the Plugline registry (`PUT /api/v1/plugins/:name/:version`); returns the latency in ms. */
export async function publishPlugline(url, token, pkg) {
  const start = process.hrtime.bigint();
  const response = await fetch(`${url}/api/v1/plugins/${encodeURIComponent(pkg.name)}/${pkg.version}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/gzip' },
    body: pkg.tarball,
  });
  const text = await response.text();
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (response.status !== 201) throw new Error(`plugline publish ${pkg.name}@${pkg.version}: HTTP ${response.status} ${text.slice(0, 300)}`);
  return ms;
}

/** Creates a Verdaccio user through its htpasswd `PUT /-/user/org.couchdb.user:<name>`; returns the token. */
export async function verdaccioToken(url, name = 'bench') {
  const response = await fetch(`${url}/-/user/org.couchdb.user:${name}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, password: 'bench-password-1' }),
  });
  const body = await response.json();
  if (!response.ok || !body.token) throw new Error(`verdaccio adduser: HTTP ${response.status} ${JSON.stringify(body)}`);
  return body.token;
}

/** Publishes npm-style (`PUT /:name` with the tarball as a base64 attachment, as `npm publish` does); returns ms. */
export async function publishVerdaccio(url, token, pkg) {
  const file = `${pkg.name}-${pkg.version}.tgz`;
  const body = {
    _id: pkg.name,
    name: pkg.name,
    description: pkg.description,
    'dist-tags': { latest: pkg.version },
    versions: {
      [pkg.version]: {
        ...pkg.packageJson,
        _id: `${pkg.name}@${pkg.version}`,
        dist: { shasum: pkg.shasum, integrity: pkg.integrity, tarball: `${url}/${pkg.name}/-/${file}` },
      },
    },
    readme: `# ${pkg.name}\n`,
    _attachments: { [file]: { content_type: 'application/octet-stream', data: Buffer.from(pkg.tarball).toString('base64'), length: pkg.tarball.byteLength } },
  };
  const start = process.hrtime.bigint();
  const response = await fetch(`${url}/${encodeURIComponent(pkg.name)}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (response.status !== 201 && response.status !== 200) throw new Error(`verdaccio publish ${pkg.name}@${pkg.version}: HTTP ${response.status} ${text.slice(0, 300)}`);
  return ms;
}

/** Runs `task(item)` over items with at most `concurrency` in flight; returns results in order. */
export async function mapLimit(items, concurrency, task) {
  const results = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index], index);
    }
  });
  await Promise.all(workers);
  return results;
}

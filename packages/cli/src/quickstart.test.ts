import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm, stat } from 'node:fs/promises';
import { type AddressInfo, createServer } from 'node:net';
import path from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startQuickstart } from './index.js';
import { assertBuilt, childEnv, cliBin, helloManifest, makeTempDir, repoRoot, runCli, writePluginFolder } from './test-support/fixtures.js';

let root: string;
beforeAll(async () => {
  root = await makeTempDir('quickstart');
});
afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

type StoredEvent = { event: string; properties: Record<string, unknown> };

describe('startQuickstart with the official plugins', () => {
  it('publishes them, runs the default chain on an event from 8.8.8.8, and reuses the data on a second start', async () => {
    const dataDir = path.join(root, 'data');
    const lines: string[] = [];
    const options = { registryPort: 0, runtimePort: 0, dataDir, handleSignals: false, logger: pino({ level: 'silent' }), print: (line: string) => void lines.push(line) };
    const first = await startQuickstart(options);
    try {
      const names = (ids: string[]) => ids.map((id) => id.replace(/@[^@]+$/, ''));
      expect(names(first.published)).toEqual(expect.arrayContaining(['geoip', 'hello-world', 'labeler', 'property-filter']));
      expect(first.failed).toEqual([]);
      expect(first.alreadyPublished).toEqual([]);
      expect(first.chain).toEqual(['geoip', 'labeler', 'hello-world', 'property-filter']);
      expect((await stat(path.join(dataDir, 'admin-token'))).mode & 0o777).toBe(0o600);
      expect(lines.join('\n')).toContain(`capture:      ${first.captureUrl}`);
      expect(lines.join('\n')).toContain(`console:      ${first.runtimeUrl}/console   (sign in with the admin token)`);
      // One token for both faces that need one: the banner says where it is, never what it is.
      expect(lines.join('\n')).toContain(`admin token:  ${path.join(dataDir, 'admin-token')}`);
      expect(lines.join('\n')).not.toContain(first.adminToken);
      expect(first.curl).toContain(`-H "Authorization: Bearer $(cat ${path.join(dataDir, 'admin-token')})" ${first.eventsUrl}`);
      expect((await fetch(first.eventsUrl)).status).toBe(401);
      // The CLI finds the quickstart's token next to its runtime folder.
      const status = await runCli(['status', '--runtime', first.runtimeUrl, '--dir', path.join(dataDir, 'runtime')], { env: childEnv({ PLUGLINE_RUNTIME_ADMIN_TOKEN: '' }) });
      expect(status.stderr).toBe('');
      expect(status.stdout).toMatch(/geoip +\S+ +running/);
      expect(first.curl).toContain(`curl -s -X POST ${first.captureUrl}`);
      expect((await fetch(first.marketplaceUrl)).status).toBe(200);
      // Every URL the banner prints answers (the capture URL takes a POST, below; the rest a GET).
      const token = (await readFile(path.join(dataDir, 'admin-token'), 'utf8')).trim();
      const printed = [...new Set(lines.join('\n').match(/http:\/\/localhost:\d+[^\s'"]*/g) ?? [])].filter((url) => url !== first.captureUrl);
      expect(printed.length).toBeGreaterThanOrEqual(3);
      for (const url of printed) expect([url, (await fetch(url, { headers: { authorization: `Bearer ${token}` } })).status]).toEqual([url, 200]);
      // Without the token, the console sends a browser to its login page (the token is never in a URL).
      const consoleAnswer = await fetch(first.consoleUrl, { redirect: 'manual' });
      expect([consoleAnswer.status, consoleAnswer.headers.get('location')]).toEqual([303, '/console/login']);
      expect((await fetch(`${first.runtimeUrl}/console/login`)).status).toBe(200);
      // The plugin folders are not written to: the bundles only go into the tarballs.
      expect(existsSync(path.join(repoRoot, 'registry', 'hello-world', 'hello-world-1.0.0.tgz'))).toBe(false);

      const sent = await fetch(first.captureUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ event: '$pageview', distinct_id: 'user-1', ip: '8.8.8.8', properties: { $current_url: 'https://example.com/' } }),
      });
      expect(sent.status).toBe(200);
      const auth = { headers: { authorization: `Bearer ${first.adminToken}` } };
      const { events } = (await (await fetch(first.eventsUrl, auth)).json()) as { events: StoredEvent[] };
      expect(events).toHaveLength(1);
      expect(events[0]?.properties).toMatchObject({ $geoip_country_code: 'US', hello: 'world' });
    } finally {
      await first.close();
    }

    const second = await startQuickstart(options);
    try {
      expect(second.published).toEqual([]);
      expect(second.alreadyPublished.sort()).toEqual([...first.published].sort());
      expect(second.chain).toEqual(first.chain);
      expect(second.adminToken).toBe(first.adminToken);
      const { events } = (await (await fetch(second.eventsUrl, { headers: { authorization: `Bearer ${second.adminToken}` } })).json()) as { events: StoredEvent[] };
      expect(events.map((event) => event.event)).toEqual(['$pageview']);
    } finally {
      await second.close();
    }
  });
});

describe('plugline quickstart', () => {
  it('says which port is taken when the registry port is in use', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as AddressInfo;
    try {
      const pluginsDir = path.join(root, 'no-plugins');
      await expect(
        startQuickstart({ registryPort: port, runtimePort: 0, dataDir: path.join(root, 'busy'), pluginsDir, handleSignals: false, logger: pino({ level: 'silent' }), print: () => {} }),
      ).rejects.toMatchObject({ message: `port ${port} is already in use: stop what listens on it or set PLUGLINE_REGISTRY_PORT` });
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });


  it('reads the ports from the environment and stops cleanly on Ctrl-C (SIGINT)', async () => {
    assertBuilt();
    const pluginsDir = path.join(root, 'plugins');
    await writePluginFolder(path.join(pluginsDir, 'hello-world'), { manifest: helloManifest({ name: 'hello-world' }) });
    const child = spawn(process.execPath, [cliBin, 'quickstart', '--data-dir', path.join(root, 'cli-data'), '--plugins-dir', pluginsDir], {
      env: childEnv({ PLUGLINE_REGISTRY_PORT: '0', PLUGLINE_RUNTIME_PORT: '0' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await new Promise<void>((resolve, reject) => {
      const check = setInterval(() => {
        if (stdout.includes('Press Ctrl-C to stop.')) {
          clearInterval(check);
          resolve();
        }
      }, 50);
      void exited.then((code) => {
        clearInterval(check);
        reject(new Error(`quickstart exited early with ${code}: ${stderr}`));
      });
    });
    expect(stdout).toMatch(/chain: +hello-world/);
    const captureUrl = /capture: +(\S+)/.exec(stdout)?.[1] ?? '';
    expect((await fetch(captureUrl, { method: 'POST', body: JSON.stringify({ event: 'e', distinct_id: 'u' }) })).status).toBe(200);
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(stdout).toContain('stopped.');
    // Only the expected warnings (the default chain's other plugins are not in this plugins folder).
    expect(stderr).toContain('not in the registry; left out of the default chain');
    expect(stderr).not.toMatch(/"level":(?:50|60)|^error /m);
  });
});

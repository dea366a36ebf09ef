// The egress policy's decisions. Public addresses are only ever classified here, never connected to:
// these tests send no traffic at all (the integration tests in src/egress.test.ts use loopback only).
import { describe, expect, it } from 'vitest';
import { EgressPolicy, classifyAddress, isPublicAddress, pluginPermissions } from './egress.js';
import { checkedPostgresConfig } from './egress-fetch.js';

const refused: [string, string][] = [
  ['127.0.0.1', 'loopback'],
  ['127.255.0.9', 'loopback'],
  ['10.1.2.3', 'private'],
  ['172.16.0.1', 'private'],
  ['192.168.1.1', 'private'],
  ['100.64.0.1', 'carrierGradeNat'],
  ['169.254.169.254', 'linkLocal'],
  ['0.0.0.0', 'unspecified'],
  ['224.0.0.1', 'multicast'],
  ['255.255.255.255', 'broadcast'],
  ['240.0.0.1', 'reserved'],
  ['192.0.2.10', 'reserved'],
  ['::1', 'loopback'],
  ['::', 'unspecified'],
  ['fd00:ec2::254', 'uniqueLocal'],
  ['fc00::1', 'uniqueLocal'],
  ['fe80::1', 'linkLocal'],
  ['::ffff:127.0.0.1', 'ipv4Mapped'],
  ['::ffff:7f00:1', 'ipv4Mapped'],
  ['::ffff:8.8.8.8', 'ipv4Mapped'],
  ['ff02::1', 'multicast'],
  ['2001:db8::1', 'reserved'],
  ['2002:7f00:1::', '6to4'],
  ['64:ff9b::7f00:1', 'rfc6052'],
];

describe('classifyAddress', () => {
  it.each(refused)('%s is %s, not public', (address, range) => {
    expect(classifyAddress(address)).toBe(range);
    expect(isPublicAddress(address)).toBe(false);
  });

  it('public unicast addresses (v4 and v6) are public', () => {
    for (const address of ['8.8.8.8', '1.1.1.1', '93.184.216.34', '2606:4700:4700::1111', '2a00:1450:4001:80b::200e']) expect(isPublicAddress(address)).toBe(true);
    expect(classifyAddress('not-an-ip')).toBe('invalid');
  });
});

describe('EgressPolicy.decide (default mode: public)', () => {
  const policy = new EgressPolicy();

  it('allows public unicast addresses and refuses every other range with ERR_EGRESS_DENIED naming the grant', () => {
    expect(policy.decide('api.example.com', 443, '93.184.216.34')).toEqual({ allowed: true });
    for (const [address, range] of refused) {
      const decision = policy.decide('internal.example', 80, address);
      expect(decision.allowed).toBe(false);
      if (decision.allowed) continue;
      expect(decision.error.code).toBe('ERR_EGRESS_DENIED');
      expect(decision.error.message).toContain(`a ${range} address`);
      expect(decision.error.message).toContain('grant it with --allow-net internal.example:80');
    }
  });

  it('a net grant opens exactly the host and port it names', () => {
    const granted = new EgressPolicy({ grants: ['net:127.0.0.1:5432', 'net:warehouse.internal', 'net:*.corp.example:8443'] });
    expect(granted.decide('127.0.0.1', 5432, '127.0.0.1')).toEqual({ allowed: true, grant: 'net:127.0.0.1:5432' });
    // An IP grant names the address: a name resolving to it reaches the same thing.
    expect(granted.decide('localhost', 5432, '127.0.0.1').allowed).toBe(true);
    expect(granted.decide('127.0.0.1', 5433, '127.0.0.1').allowed).toBe(false);
    expect(granted.decide('127.0.0.2', 5432, '127.0.0.2').allowed).toBe(false);
    expect(granted.decide('[::ffff:7f00:1]', 5432, '::ffff:7f00:1').allowed).toBe(false);
    // A name grant opens the name (any port here) at whatever private address it resolves to.
    expect(granted.decide('warehouse.internal', 9000, '10.0.0.5').allowed).toBe(true);
    expect(granted.decide('WAREHOUSE.internal.', 9000, '10.0.0.5').allowed).toBe(true);
    expect(granted.decide('other.internal', 9000, '10.0.0.5').allowed).toBe(false);
    expect(granted.decide('db.corp.example', 8443, '10.0.0.6').allowed).toBe(true);
    expect(granted.decide('db.corp.example', 443, '10.0.0.6').allowed).toBe(false);
    expect(granted.decide('corp.example.evil.test', 8443, '10.0.0.6').allowed).toBe(false);
  });
});

describe('EgressPolicy mode granted (an allowlist)', () => {
  it('refuses public hosts that are not granted with ERR_CAPABILITY_DENIED naming --allow-net', () => {
    const policy = new EgressPolicy({ mode: 'granted', grants: ['net:api.hubapi.com'] });
    expect(policy.decide('api.hubapi.com', 443, '93.184.216.34').allowed).toBe(true);
    const decision = policy.decide('api.other.com', 443, '93.184.216.35');
    expect(decision.allowed).toBe(false);
    if (!decision.allowed) {
      expect(decision.error.code).toBe('ERR_CAPABILITY_DENIED');
      expect(decision.error.message).toContain('grant it with --allow-net api.other.com:443');
    }
  });
});

describe('EgressPolicy.resolve', () => {
  it('classifies the resolved addresses and returns the one to connect to', async () => {
    const answers: Record<string, { address: string; family: number }[]> = {
      'rebind.test': [{ address: '10.0.0.1', family: 4 }],
      'mixed.test': [
        { address: '127.0.0.1', family: 4 },
        { address: '93.184.216.34', family: 4 },
      ],
    };
    const policy = new EgressPolicy({ resolve: async (name) => answers[name] ?? [] });
    await expect(policy.resolve('rebind.test', 80)).rejects.toMatchObject({ code: 'ERR_EGRESS_DENIED', message: expect.stringContaining('(10.0.0.1)') });
    await expect(policy.resolve('mixed.test', 80)).resolves.toEqual({ address: '93.184.216.34', family: 4 });
    await expect(policy.resolve('nothing.test', 80)).rejects.toMatchObject({ code: 'ENOTFOUND' });
    // IP literals are not looked up.
    await expect(policy.resolve('[::1]', 80)).rejects.toMatchObject({ code: 'ERR_EGRESS_DENIED', message: expect.stringContaining('loopback') });
  });

  it('names that resolve to loopback through the system resolver (localhost, localhost., /etc/hosts) are refused', async () => {
    const policy = new EgressPolicy();
    for (const name of ['localhost', 'localhost.']) await expect(policy.resolve(name, 80)).rejects.toMatchObject({ code: 'ERR_EGRESS_DENIED' });
  });

  it('refuses every scheme but http and https', () => {
    const policy = new EgressPolicy();
    for (const url of ['data:text/plain,hi', 'file:///etc/passwd', 'blob:http://x/1', 'ftp://example.com/', 'ws://example.com/']) {
      expect(() => policy.checkUrl(new URL(url))).toThrow(expect.objectContaining({ code: 'ERR_EGRESS_DENIED' }));
    }
    expect(() => policy.checkUrl(new URL('https://example.com/'))).not.toThrow();
  });
});

describe('postgres connections', () => {
  it('are checked like fetch and connect to the checked address', async () => {
    const open = pluginPermissions('p', ['postgres', 'net:127.0.0.1:5432']);
    expect(open.postgres).toBe(true);
    const checked = await checkedPostgresConfig(open.egress, 'postgres://u:pw@127.0.0.1:5432/db');
    expect(checked.config).toMatchObject({ host: '127.0.0.1', port: 5432, database: 'db', user: 'u' });
    await expect(checkedPostgresConfig(pluginPermissions('p', ['postgres']).egress, 'postgres://u@127.0.0.1:5432/db')).rejects.toMatchObject({ code: 'ERR_EGRESS_DENIED' });
    await expect(checkedPostgresConfig(open.egress, 'postgres://u@127.0.0.1:6543/db')).rejects.toMatchObject({ code: 'ERR_EGRESS_DENIED' });
    // TLS keeps the name for the certificate check while the socket goes to the checked address.
    const named = await checkedPostgresConfig(pluginPermissions('p', ['net:localhost']).egress, 'postgres://u@localhost/db?sslmode=verify-full');
    expect(named.config).toMatchObject({ host: expect.stringMatching(/^(127\.0\.0\.1|::1)$/), ssl: expect.objectContaining({ servername: 'localhost' }) });
    await expect(checkedPostgresConfig(open.egress, 'postgres://u@localhost/db')).resolves.toMatchObject({ config: { host: expect.stringMatching(/^(127\.0\.0\.1|::1)$/) } });
    await expect(checkedPostgresConfig(open.egress, 'postgresql:///db?host=/var/run/postgresql')).rejects.toMatchObject({ code: 'ERR_EGRESS_DENIED', message: expect.stringContaining('Unix socket') });
  });

  it('a malformed grant or egress mode is a coded error', () => {
    expect(() => pluginPermissions('p', ['net:'])).toThrow(expect.objectContaining({ code: 'ERR_CAPABILITY_DENIED' }));
    expect(() => pluginPermissions('p', [], 'grantd' as never)).toThrow(expect.objectContaining({ code: 'ERR_BAD_REQUEST', message: expect.stringContaining('"grantd"') }));
    expect(pluginPermissions('p', [], 'granted').egress.mode).toBe('granted');
  });
});

import { describe, expect, it } from 'vitest';
import { capabilityCovers, grantFlags, missingCapabilities, normalizeCapabilities, parseCapability } from './capabilities.js';
import { validateManifest } from './manifest.js';

const manifest = { name: 'x', version: '1.0.0', main: 'index.js', sdk: '*', config: { type: 'object' } };

describe('capabilities', () => {
  it('parses postgres and net:host[:port] (names, wildcards, IPv4, [IPv6]) and nothing else', () => {
    expect(parseCapability('postgres')).toEqual({ kind: 'postgres' });
    expect(parseCapability('net:API.HubApi.com.')).toEqual({ kind: 'net', host: 'api.hubapi.com' });
    expect(parseCapability('net:*.amazonaws.com:443')).toEqual({ kind: 'net', host: '*.amazonaws.com', port: 443 });
    expect(parseCapability('net:127.0.0.1:5432')).toEqual({ kind: 'net', host: '127.0.0.1', port: 5432 });
    expect(parseCapability('net:[::1]:8080')).toEqual({ kind: 'net', host: '::1', port: 8080 });
    for (const bad of ['net:', 'net:a b', 'net:x:0', 'net:x:70000', 'net:http://x', 'fs', 'net:x/y', 'postgres:x', 'net:*']) expect(parseCapability(bad)).toBeUndefined();
  });

  it('normalizes and deduplicates, and names the first invalid one', () => {
    expect(normalizeCapabilities(['postgres', 'net:Example.com.', 'net:example.com', 'postgres'])).toEqual(['postgres', 'net:example.com']);
    expect(() => normalizeCapabilities(['postgres', 'disk'])).toThrow('"disk" is not a capability');
  });

  it('a grant covers a request by kind, host (exact or *.wildcard) and port (none = every port)', () => {
    expect(capabilityCovers('net:api.hubapi.com', 'net:api.hubapi.com:443')).toBe(true);
    expect(capabilityCovers('net:api.hubapi.com:443', 'net:api.hubapi.com')).toBe(false);
    expect(capabilityCovers('net:*.hubapi.com', 'net:api.hubapi.com')).toBe(true);
    expect(capabilityCovers('net:*.hubapi.com', 'net:hubapi.com.evil.com')).toBe(false);
    expect(capabilityCovers('net:hubapi.com', 'net:api.hubapi.com')).toBe(false);
    expect(capabilityCovers('postgres', 'net:postgres')).toBe(false);
    expect(missingCapabilities(['postgres', 'net:api.hubapi.com', 'net:127.0.0.1:5432'], ['net:api.hubapi.com'])).toEqual(['postgres', 'net:127.0.0.1:5432']);
    expect(missingCapabilities(undefined, undefined)).toEqual([]);
  });

  it('says which install flags grant what is missing', () => {
    expect(grantFlags(['net:api.hubapi.com', 'postgres', 'net:[::1]:80'])).toBe('--allow-net api.hubapi.com --allow-postgres --allow-net [::1]:80');
  });

  it('the manifest accepts the legacy ["postgres"] form and net requests, and rejects unknown capabilities', () => {
    expect(validateManifest({ ...manifest, capabilities: ['postgres'] }).errors).toEqual([]);
    expect(validateManifest({ ...manifest, capabilities: ['postgres', 'net:api.hubapi.com', 'net:*.s3.amazonaws.com:443'] }).errors).toEqual([]);
    expect(validateManifest({ ...manifest, capabilities: ['filesystem'] }).errors[0]).toMatch(/^capabilities\.0: must match pattern/);
  });
});

import { describe, expect, it } from 'vitest';
import { hashPayload, signRequest } from './sigv4.js';

describe('signRequest (AWS Signature Version 4)', () => {
  // The "GET Object" example of the AWS S3 SigV4 documentation (header-based authentication).
  it('reproduces the documented S3 example signature', () => {
    const headers = signRequest({
      method: 'GET',
      url: new URL('https://examplebucket.s3.amazonaws.com/test.txt'),
      headers: { Range: 'bytes=0-9' },
      payloadHash: hashPayload(''),
      credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' },
      region: 'us-east-1',
      date: new Date('2013-05-24T00:00:00Z'),
    });
    expect(headers.authorization).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
    );
    expect(headers['x-amz-content-sha256']).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });

  it('signs the session token when there is one', () => {
    const headers = signRequest({
      method: 'PUT',
      url: new URL('http://127.0.0.1:9000/bucket/key'),
      headers: {},
      payloadHash: hashPayload('x'),
      credentials: { accessKeyId: 'a', secretAccessKey: 'b', sessionToken: 'token' },
      region: 'us-east-1',
      date: new Date('2026-01-01T00:00:00Z'),
    });
    expect(headers['x-amz-security-token']).toBe('token');
    expect(headers.authorization).toContain('SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,');
    expect(headers.host).toBe('127.0.0.1:9000');
  });
});

import { decodeJwt } from 'jose';
import { describe, expect, it } from 'vitest';
import { createApiKey } from '../../shared/domain/admin';
import { api, principalStore } from './support';

/**
 * POST /auth/token through the gateway: a token exchanged for an API key that expires before the token's TTL ends
 * at the key's expiry (its `exp` and the `expiresAt` the client is told); a key without expiry keeps the TTL.
 * Unit counterpart: test/unit/authz-token-issue.test.ts.
 */
const suffix = () => crypto.randomUUID().slice(0, 8);
const issued = async (apiKey: string) => {
  const response = await api('POST', '/auth/token', { key: apiKey });
  expect(response.status, response.text).toBe(200);
  const body = response.body as { token: string; expiresIn: number; expiresAt: string };
  return { ...body, claims: decodeJwt(body.token) as { iat: number; exp: number } };
};

describe('a token exchanged for an expiring API key', () => {
  it('expires with the key, and says so', async () => {
    const expiresAt = new Date(Date.now() + 120_000);
    const { apiKey } = await createApiKey(principalStore(), {
      name: `expiring-${suffix()}`,
      role: 'producer',
      expiresAt,
    });
    const token = await issued(apiKey);
    expect(token.claims.exp).toBe(Math.floor(expiresAt.getTime() / 1000));
    expect(token.expiresAt).toBe(new Date(token.claims.exp * 1000).toISOString());
    expect(token.expiresIn).toBe(token.claims.exp - token.claims.iat);
    expect(token.expiresIn).toBeLessThanOrEqual(120);
  });

  it('a key without expiry (the control) keeps the TTL', async () => {
    const { apiKey } = await createApiKey(principalStore(), { name: `lasting-${suffix()}`, role: 'producer' });
    const token = await issued(apiKey);
    expect(token.claims.exp - token.claims.iat).toBe(900);
    expect(token.expiresIn).toBe(900);
  });
});

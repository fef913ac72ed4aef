import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * API keys look like `tem_<keyId>_<secret>`. The key id is public (it names the key in logs and in the CLI); the
 * secret is 32 random bytes, shown once, and only its SHA-256 is stored. A fast hash is enough because the secret
 * is high-entropy: there is nothing to brute-force from a leaked hash.
 */
const KEY_PATTERN = /^tem_([a-z0-9]{16})_([A-Za-z0-9_-]{43})$/;

export interface ParsedApiKey {
  keyId: string;
  secret: string;
}

export interface NewApiKey extends ParsedApiKey {
  apiKey: string;
  secretHash: string;
}

export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

export function generateApiKey(): NewApiKey {
  const keyId = randomBytes(10).toString('hex').slice(0, 16);
  const secret = randomBytes(32).toString('base64url');
  return { keyId, secret, apiKey: `tem_${keyId}_${secret}`, secretHash: hashSecret(secret) };
}

export function parseApiKey(raw: string | undefined): ParsedApiKey | undefined {
  if (raw === undefined) return undefined;
  const match = KEY_PATTERN.exec(raw.trim());
  if (!match?.[1] || !match[2]) return undefined;
  return { keyId: match[1], secret: match[2] };
}

/** Constant-time comparison of the presented secret's hash with the stored one. */
export function secretMatches(secret: string, storedHash: string): boolean {
  const presented = Buffer.from(hashSecret(secret), 'hex');
  const stored = Buffer.from(storedHash, 'hex');
  return presented.length === stored.length && timingSafeEqual(presented, stored);
}

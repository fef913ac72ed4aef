import { randomBytes } from 'node:crypto';
import { hashSecret, secretMatches } from './api-keys';

/** Which credential a request carries. An API key wins when both are sent (it is the narrower, revocable one). */
export type PresentedCredential = { type: 'api-key'; value: string } | { type: 'bearer'; value: string };

export function credentialFrom(
  header: (name: string) => string | undefined,
): PresentedCredential | 'missing' | 'malformed' {
  const apiKey = header('x-api-key');
  if (apiKey !== undefined && apiKey.trim() !== '') return { type: 'api-key', value: apiKey.trim() };
  const authorization = header('authorization');
  if (authorization === undefined || authorization.trim() === '') return 'missing';
  const match = /^Bearer\s+([A-Za-z0-9._~+/-]+=*)\s*$/i.exec(authorization);
  return match?.[1] ? { type: 'bearer', value: match[1] } : 'malformed';
}

/** Device tokens (`temd_` + 32 random bytes): the MQTT password of one device, stored only as a hash. */
const DEVICE_TOKEN = /^temd_[A-Za-z0-9_-]{43}$/;

export function generateDeviceToken(): { token: string; tokenHash: string } {
  const token = `temd_${randomBytes(32).toString('base64url')}`;
  return { token, tokenHash: hashSecret(token) };
}

export function deviceTokenMatches(token: string, storedHash: string): boolean {
  return DEVICE_TOKEN.test(token) && secretMatches(token, storedHash);
}

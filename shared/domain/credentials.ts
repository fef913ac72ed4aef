import { randomBytes } from 'node:crypto';
import { hashSecret, secretMatches } from './api-keys';

/** Which credential a request carries. An API key wins when both are sent (it is the narrower, revocable one). */
export type PresentedCredential = { type: 'api-key'; value: string } | { type: 'bearer'; value: string };

/**
 * A request's headers as API Gateway REST (payload format 1.0) hands them to a REQUEST authorizer and to a proxy
 * integration: `headers` holds the last value of a repeated header, `multiValueHeaders` every value.
 */
export interface RequestHeaders {
  headers?: Record<string, string | undefined> | null;
  multiValueHeaders?: Record<string, readonly string[] | undefined> | null;
}

/**
 * Every value of one header, its name compared case-insensitively (`X-Api-Key` and `x-api-key` are one header).
 * From `multiValueHeaders` when it has the header, else from `headers` (an event built without it).
 */
export function headerValues(request: RequestHeaders, name: string): string[] {
  const wanted = name.toLowerCase();
  const matching = <V>(record: Record<string, V> | null | undefined): V[] =>
    Object.entries(record ?? {})
      .filter(([key]) => key.toLowerCase() === wanted)
      .map(([, value]) => value);
  const all = matching(request.multiValueHeaders).flatMap((values) => values ?? []);
  if (all.length > 0) return all;
  return matching(request.headers).filter((value): value is string => value !== undefined);
}

/**
 * The credential of a request, from every value of its `x-api-key` and `authorization` headers. Either header sent
 * twice is refused (`repeated`), whatever its values: API Gateway passes the last value in `headers`, a proxy or
 * WAF in front may act on the first, and a request carrying two credentials (garbage, then a valid key; the keys of
 * two principals) is no one's.
 */
export function credentialFrom(
  values: (name: string) => readonly string[],
): PresentedCredential | 'missing' | 'malformed' | 'repeated' {
  const apiKeys = values('x-api-key');
  const authorizations = values('authorization');
  if (apiKeys.length > 1 || authorizations.length > 1) return 'repeated';
  const [apiKey] = apiKeys;
  if (apiKey !== undefined && apiKey.trim() !== '') return { type: 'api-key', value: apiKey.trim() };
  const [authorization] = authorizations;
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

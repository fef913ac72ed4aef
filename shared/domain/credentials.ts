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

/**
 * Subprotocols a browser offers to carry a credential (it cannot set headers on a WebSocket):
 * `Sec-WebSocket-Protocol: tem.v1, tem-key.<api key>` or `tem.v1, tem-bearer.<jwt>`. The server selects `tem.v1`.
 */
export const WS_SUBPROTOCOL = 'tem.v1';
const KEY_PROTOCOL = 'tem-key.';
const BEARER_PROTOCOL = 'tem-bearer.';
const BEARER_TOKEN = /^[A-Za-z0-9._~+/-]+=*$/;

/**
 * The credential of a WebSocket `$connect`: from the credential headers, a query parameter (`api_key`,
 * `access_token`), or a subprotocol. Exactly one place may carry one: a credential in two places (or a parameter sent
 * twice) is no one's, as for a header sent twice.
 */
export function webSocketCredential(
  headers: (name: string) => readonly string[],
  query: (name: string) => readonly string[],
  parameterNames: { apiKey: string; token: string },
): PresentedCredential | 'missing' | 'malformed' | 'repeated' {
  const found: (PresentedCredential | 'malformed' | 'repeated')[] = [];
  const fromHeaders = credentialFrom(headers);
  if (fromHeaders !== 'missing') found.push(fromHeaders);
  const keys = query(parameterNames.apiKey);
  const tokens = query(parameterNames.token);
  if (keys.length > 1 || tokens.length > 1) found.push('repeated');
  const bearer = (value: string): PresentedCredential | 'malformed' =>
    BEARER_TOKEN.test(value) ? { type: 'bearer', value } : 'malformed';
  // A blank value carries no credential, as a blank header does not.
  if (keys[0]?.trim()) found.push({ type: 'api-key', value: keys[0].trim() });
  if (tokens[0]?.trim()) found.push(bearer(tokens[0].trim()));
  const offered = headers('sec-websocket-protocol').flatMap((v) => v.split(',').map((p) => p.trim()));
  for (const protocol of offered) {
    if (protocol.startsWith(KEY_PROTOCOL)) found.push({ type: 'api-key', value: protocol.slice(KEY_PROTOCOL.length) });
    else if (protocol.startsWith(BEARER_PROTOCOL)) found.push(bearer(protocol.slice(BEARER_PROTOCOL.length)));
  }
  if (found.length === 0) return 'missing';
  if (found.length > 1) return 'repeated';
  return found[0] as PresentedCredential | 'malformed' | 'repeated';
}

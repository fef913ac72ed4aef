import { describe, expect, it } from 'vitest';
import { webSocketCredential } from '../../shared/domain/credentials';

/**
 * The credential of a WebSocket `$connect`: a credential header, a query parameter or a `Sec-WebSocket-Protocol`
 * entry, and exactly one of them.
 */

const KEY = `temk_abc.${'S'.repeat(43)}`;
const JWT = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJwMSJ9.c2lnbmF0dXJl';
const NAMES = { apiKey: 'api_key', token: 'access_token' };

type Values = Record<string, string[]>;

/** Header names are compared case-insensitively, as `headerValues` does; query names are exact. */
const credential = (headers: Values = {}, query: Values = {}) =>
  webSocketCredential(
    (name) =>
      Object.entries(headers)
        .filter(([key]) => key.toLowerCase() === name.toLowerCase())
        .flatMap(([, values]) => values),
    (name) => query[name] ?? [],
    NAMES,
  );

describe('webSocketCredential', () => {
  it('a blank query value carries no credential, as a blank header does not; a bad token in a subprotocol is malformed', () => {
    expect(credential({}, { api_key: [' '] })).toBe('missing');
    expect(credential({}, { access_token: [''] })).toBe('missing');
    expect(credential({ 'sec-websocket-protocol': ['tem.v1, tem-bearer.not a token!'] })).toBe('malformed');
  });

  it('takes an API key from the x-api-key header', () => {
    expect(credential({ 'X-Api-Key': [KEY] })).toEqual({ type: 'api-key', value: KEY });
  });

  it('takes a bearer token from the authorization header', () => {
    expect(credential({ authorization: [`Bearer ${JWT}`] })).toEqual({ type: 'bearer', value: JWT });
  });

  it('takes an API key from the api_key query parameter', () => {
    expect(credential({}, { api_key: [KEY] })).toEqual({ type: 'api-key', value: KEY });
  });

  it('takes a bearer token from the access_token query parameter', () => {
    expect(credential({}, { access_token: [JWT] })).toEqual({ type: 'bearer', value: JWT });
  });

  it('reads the query parameters named by the caller', () => {
    const credentialNamed = webSocketCredential(
      () => [],
      (name) => (name === 'key' ? [KEY] : []),
      { apiKey: 'key', token: 'token' },
    );
    expect(credentialNamed).toEqual({ type: 'api-key', value: KEY });
  });

  it('takes an API key from a tem-key. subprotocol offered next to tem.v1', () => {
    expect(credential({ 'Sec-WebSocket-Protocol': [`tem.v1, tem-key.${KEY}`] })).toEqual({
      type: 'api-key',
      value: KEY,
    });
  });

  it('takes a bearer token from a tem-bearer. subprotocol offered next to tem.v1', () => {
    expect(credential({ 'sec-websocket-protocol': [`tem.v1,tem-bearer.${JWT}`] })).toEqual({
      type: 'bearer',
      value: JWT,
    });
  });

  it('is missing when nothing carries a credential, even with the tem.v1 subprotocol alone', () => {
    expect(credential()).toBe('missing');
    expect(credential({ 'sec-websocket-protocol': ['tem.v1'] })).toBe('missing');
    expect(credential({ 'x-api-key': ['  '] }, { api_key: [''] })).toBe('missing');
  });

  it('is repeated when a header and a query parameter both carry a credential, even the same one', () => {
    expect(credential({ 'x-api-key': [KEY] }, { api_key: [KEY] })).toBe('repeated');
  });

  it('is repeated when a query parameter and a subprotocol both carry a credential', () => {
    expect(credential({ 'sec-websocket-protocol': [`tem.v1, tem-bearer.${JWT}`] }, { api_key: [KEY] })).toBe(
      'repeated',
    );
  });

  it('is repeated when a header and a subprotocol both carry a credential', () => {
    expect(credential({ authorization: [`Bearer ${JWT}`], 'sec-websocket-protocol': [`tem-key.${KEY}`] })).toBe(
      'repeated',
    );
  });

  it('is repeated when both query parameters are given', () => {
    expect(credential({}, { api_key: [KEY], access_token: [JWT] })).toBe('repeated');
  });

  it('is repeated when two credential subprotocols are offered', () => {
    expect(credential({ 'sec-websocket-protocol': [`tem.v1, tem-key.${KEY}, tem-key.${KEY}`] })).toBe('repeated');
  });

  it('is repeated when a query parameter is given twice', () => {
    expect(credential({}, { api_key: [KEY, KEY] })).toBe('repeated');
    expect(credential({}, { access_token: [JWT, 'other'] })).toBe('repeated');
  });

  it('is repeated when a credential header is sent twice', () => {
    expect(credential({ 'x-api-key': [KEY, KEY] })).toBe('repeated');
  });

  it('is malformed when the access_token parameter is not a token', () => {
    expect(credential({}, { access_token: ['not a token!'] })).toBe('malformed');
  });

  it('is malformed when the authorization header is not a bearer token', () => {
    expect(credential({ authorization: [`Basic ${JWT}`] })).toBe('malformed');
  });

  it('is repeated, not malformed, when a malformed token comes with a second credential', () => {
    expect(credential({ 'x-api-key': [KEY] }, { access_token: ['not a token!'] })).toBe('repeated');
  });
});

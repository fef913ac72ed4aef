import type { IncomingMessage } from 'node:http';
import type { RouteSpec } from '../topology';

export const API_ID = 'local';
export const STAGE = 'v1';

export interface CompiledRoute {
  route: RouteSpec;
  pattern: RegExp;
  params: string[];
}

export function compile(route: RouteSpec): CompiledRoute {
  const params: string[] = [];
  const source = route.path
    .split('/')
    .map((segment) => {
      const m = /^\{([^}]+)\}$/.exec(segment);
      if (!m?.[1]) return segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      params.push(m[1]);
      return '([^/]+)';
    })
    .join('/');
  return { route, pattern: new RegExp(`^${source}/?$`), params };
}

/** The route a request takes, with its path parameters; undefined when none matches (API Gateway's 404). */
export function matchRoute(
  compiled: readonly CompiledRoute[],
  method: string,
  pathname: string,
): { match: CompiledRoute; params: Record<string, string> } | undefined {
  let params: Record<string, string> = {};
  const match = compiled.find((c) => {
    if (c.route.method !== method) return false;
    const m = c.pattern.exec(pathname);
    if (!m) return false;
    params = Object.fromEntries(c.params.map((name, i) => [name, safeDecode(m[i + 1] ?? '')]));
    return true;
  });
  return match ? { match, params } : undefined;
}

/**
 * REST (payload format 1.0): `headers` holds the last value of a repeated header, `multiValueHeaders` all of them;
 * likewise the query string.
 */
export function requestValues(req: IncomingMessage, url: URL) {
  // Collected in Maps: a name such as __proto__ or constructor is a key like any other, never a prototype lookup.
  const headerValues = new Map<string, string[]>();
  for (let i = 0; i < req.rawHeaders.length; i += 2)
    grouped(headerValues, req.rawHeaders[i] as string, req.rawHeaders[i + 1] as string);
  const queryValues = new Map<string, string[]>();
  for (const [k, v] of url.searchParams) grouped(queryValues, k, v);
  return {
    headers: lastValues(headerValues),
    multiValueHeaders: Object.fromEntries(headerValues),
    query: lastValues(queryValues),
    multiQuery: Object.fromEntries(queryValues),
  };
}

/** The proxy event's `requestContext`, before the authorizer adds its own. */
export function requestContextOf(
  req: IncomingMessage,
  deps: { accountId: string },
  route: RouteSpec,
  method: string,
  resourcePath: string,
  requestId: string,
  userAgent: string | null,
) {
  return {
    accountId: deps.accountId,
    apiId: API_ID,
    httpMethod: method,
    path: `/${STAGE}${resourcePath}`,
    protocol: `HTTP/${req.httpVersion}`,
    requestId,
    requestTimeEpoch: Date.now(),
    resourceId: route.path,
    resourcePath: route.path,
    stage: STAGE,
    identity: {
      sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
      userAgent,
      accessKey: null,
      accountId: null,
      apiKey: null,
      apiKeyId: null,
      caller: null,
      clientCert: null,
      cognitoAuthenticationProvider: null,
      cognitoAuthenticationType: null,
      cognitoIdentityId: null,
      cognitoIdentityPoolId: null,
      principalOrgId: null,
      user: null,
      userArn: null,
    },
  };
}

function grouped(map: Map<string, string[]>, name: string, value: string): void {
  const values = map.get(name);
  if (values) values.push(value);
  else map.set(name, [value]);
}

/** Own properties only (Object.fromEntries defines them): `{"__proto__": "x"}` stays data. */
function lastValues(map: Map<string, string[]>): Record<string, string> {
  return Object.fromEntries([...map].map(([name, values]) => [name, values[values.length - 1] as string]));
}

/** A malformed escape (`%zz`) stays as sent, as API Gateway passes it: the function decides, not a crash here. */
function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

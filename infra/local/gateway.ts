import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type {
  APIGatewayAuthorizerResult,
  APIGatewayProxyEvent,
  APIGatewayProxyResult,
  APIGatewayRequestAuthorizerEvent,
} from 'aws-lambda';
import { z } from 'zod';
import { AUTHORIZER_UNAVAILABLE } from '../../shared/domain/decision-cache';
import { evaluatePolicy, type PolicyDocument } from '../../shared/domain/iam-policy';
import type { AuthorizerSpec, RouteSpec } from '../topology';
import { FunctionError } from './function-host';
import type { UsagePlanMeter } from './usage-plans';

/** API Gateway REST's payload limit. */
const MAX_BODY_BYTES = 10 * 1024 * 1024;
/** API Gateway REST quotas: all header values together, the URL of a regional API, a method ARN with authorization. */
const MAX_HEADER_VALUES_BYTES = 10_240;
const MAX_URL_CHARS = 10_240;
const MAX_METHOD_ARN_BYTES = 1600;
/** Lambda's synchronous invocation payload: the proxy event as JSON (API Gateway answers 413 "Request Too Long"). */
const MAX_INVOKE_PAYLOAD_BYTES = 6 * 1024 * 1024;
/** How much of a request head Node parses, so that the quotas above are answered here, in JSON. */
const MAX_HEAD_BYTES = 64 * 1024;
const API_ID = 'local';
const STAGE = 'v1';

export interface GatewayDeps {
  routes: readonly RouteSpec[];
  authorizer: AuthorizerSpec;
  region: string;
  accountId: string;
  invoke: (functionName: string, event: unknown) => Promise<unknown>;
  log: (message: string, fields?: Record<string, unknown>) => void;
  /**
   * Usage plans (API Gateway's `apiKeySource: AUTHORIZER` with `apiKeyRequired` on every authorized method): each
   * allowed request is metered against the authorizer's `usageIdentifierKey` (429 over its limits, 403 without a
   * key in a plan). Without it, no per-key limits apply.
   */
  usagePlans?: UsagePlanMeter;
}

interface CompiledRoute {
  route: RouteSpec;
  pattern: RegExp;
  params: string[];
}

function compile(route: RouteSpec): CompiledRoute {
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

export const AuthorizerResultSchema = z.object({
  principalId: z.string().min(1),
  policyDocument: z.object({
    Version: z.string(),
    Statement: z.array(
      z.object({
        Action: z.union([z.string(), z.array(z.string())]),
        Effect: z.enum(['Allow', 'Deny']),
        Resource: z.union([z.string(), z.array(z.string())]),
      }),
    ),
  }),
  context: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).nullish(),
  usageIdentifierKey: z.string().nullish(),
});

const ProxyResultSchema = z.object({
  statusCode: z.number().int().min(100).max(599),
  headers: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).nullish(),
  multiValueHeaders: z.record(z.string(), z.array(z.union([z.string(), z.number(), z.boolean()]))).nullish(),
  body: z.string().nullish(),
  isBase64Encoded: z.boolean().nullish(),
});

interface CachedDecision {
  principalId: string;
  policy: PolicyDocument;
  context: Record<string, string>;
  usageKey?: string;
  expiresAt: number;
}

/** Bounded so that a flood of distinct (bad) keys cannot grow memory without limit. */
const CACHE_LIMIT = 10_000;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(`HTTP ${status}`);
  }
}

/**
 * Stands in for API Gateway REST: routes from the topology, the REQUEST authorizer with its decision cached per
 * identity source for the TTL, IAM policy evaluation against the method ARN, Lambda proxy integration, and the
 * same gateway responses the CDK stack configures (401/403/404/5xx bodies). No stack trace ever leaves it.
 */
export class LocalGateway {
  private server: Server | undefined;
  private readonly compiled: CompiledRoute[];
  private readonly cache = new Map<string, CachedDecision>();
  authorizerInvocations = 0;
  /** Answers by HTTP status, and requests on authorized routes by outcome: what the local dashboard shows. */
  readonly responses: Record<string, number> = {};
  readonly authorizerDecisions = { allow: 0, deny: 0, unauthorized: 0, missing_identity: 0, unavailable: 0 };

  constructor(private readonly deps: GatewayDeps) {
    this.compiled = deps.routes.map(compile);
  }

  /** Forget cached authorizer decisions (all, or one identity): immediate revocation, locally. */
  flushAuthorizerCache(identity?: string): void {
    if (identity === undefined) this.cache.clear();
    else this.cache.delete(identity);
  }

  listen(port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const server = createServer({ maxHeaderSize: MAX_HEAD_BYTES }, (req, res) => {
        res.once('close', () => {
          this.responses[res.statusCode] = (this.responses[res.statusCode] ?? 0) + 1;
        });
        this.handle(req, res).catch((error) => {
          this.deps.log('gateway failure', { error: (error as Error).message });
          send(res, 500, { message: 'Internal server error' });
        });
      });
      // A request Node cannot parse gets a JSON answer too, not Node's bare status line.
      server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => answerUnparsable(error, socket));
      // Every header counts (Node would drop those after the 2000th): the size quotas above bound them instead.
      server.maxHeadersCount = 0;
      server.keepAliveTimeout = 5000;
      server.on('error', reject);
      server.listen(port, '127.0.0.1', () => {
        this.server = server;
        const address = server.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      if (!this.server) return resolve();
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private methodArn(method: string, resourcePath: string): string {
    return `arn:aws:execute-api:${this.deps.region}:${this.deps.accountId}:${API_ID}/${STAGE}/${method}${resourcePath}`;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    res.setHeader('x-amzn-requestid', requestId);
    if ((req.url ?? '').length > MAX_URL_CHARS)
      return send(res, 414, { message: `Request URI too long: the URL may have at most ${MAX_URL_CHARS} characters` });
    let headerBytes = 0;
    for (let i = 1; i < req.rawHeaders.length; i += 2)
      headerBytes += Buffer.byteLength(req.rawHeaders[i] ?? '', 'latin1');
    if (headerBytes > MAX_HEADER_VALUES_BYTES)
      return send(res, 431, {
        message: `Request header fields too large: all header values together may have at most ${MAX_HEADER_VALUES_BYTES} bytes, got ${headerBytes}`,
      });
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = (req.method ?? 'GET').toUpperCase();
    let params: Record<string, string> = {};
    const match = this.compiled.find((c) => {
      if (c.route.method !== method) return false;
      const m = c.pattern.exec(url.pathname);
      if (!m) return false;
      params = Object.fromEntries(c.params.map((name, i) => [name, safeDecode(m[i + 1] ?? '')]));
      return true;
    });
    if (!match) return send(res, 404, { message: 'Not Found' });

    let body: string;
    try {
      body = await readBody(req);
    } catch (error) {
      if (error instanceof HttpError) return send(res, error.status, error.body);
      throw error;
    }

    // REST (payload format 1.0): `headers` holds the last value of a repeated header, `multiValueHeaders` all of them.
    // Collected in Maps: a name such as __proto__ or constructor is a key like any other, never a prototype lookup.
    const headerValues = new Map<string, string[]>();
    for (let i = 0; i < req.rawHeaders.length; i += 2)
      grouped(headerValues, req.rawHeaders[i] as string, req.rawHeaders[i + 1] as string);
    const queryValues = new Map<string, string[]>();
    for (const [k, v] of url.searchParams) grouped(queryValues, k, v);
    const headers = lastValues(headerValues);
    const multiValueHeaders = Object.fromEntries(headerValues);
    const query = lastValues(queryValues);
    const multiQuery = Object.fromEntries(queryValues);
    const resourcePath = url.pathname.replace(/\/$/, '') || '/';
    const methodArn = this.methodArn(method, resourcePath);
    if (match.route.auth !== 'none' && Buffer.byteLength(methodArn, 'utf8') > MAX_METHOD_ARN_BYTES)
      return send(res, 414, {
        message: `Request URI too long: the method ARN may have at most ${MAX_METHOD_ARN_BYTES} bytes`,
      });
    const sourceIp = req.socket.remoteAddress ?? '127.0.0.1';
    const requestContext = {
      accountId: this.deps.accountId,
      apiId: API_ID,
      httpMethod: method,
      path: `/${STAGE}${resourcePath}`,
      protocol: `HTTP/${req.httpVersion}`,
      requestId,
      requestTimeEpoch: Date.now(),
      resourceId: match.route.path,
      resourcePath: match.route.path,
      stage: STAGE,
      identity: {
        sourceIp,
        userAgent: headers['User-Agent'] ?? headers['user-agent'] ?? null,
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
    const common = {
      resource: match.route.path,
      path: resourcePath,
      httpMethod: method,
      headers,
      multiValueHeaders,
      queryStringParameters: Object.keys(query).length > 0 ? query : null,
      multiValueQueryStringParameters: Object.keys(multiQuery).length > 0 ? multiQuery : null,
      pathParameters: Object.keys(params).length > 0 ? params : null,
      stageVariables: null,
    };

    let authorizer: Record<string, unknown> | undefined;
    if (match.route.auth !== 'none') {
      // Identity sources: API Gateway answers 401 itself, without calling the authorizer, when one is missing;
      // their values together key its decision cache.
      const values: string[] = [];
      for (const source of this.deps.authorizer.identitySources) {
        const wanted = source.toLowerCase();
        const value = Object.entries(headers).find(([k]) => k.toLowerCase() === wanted)?.[1];
        if (value === undefined || value === '') {
          this.authorizerDecisions.missing_identity++;
          return send(res, 401, { message: 'Unauthorized' });
        }
        values.push(value);
      }
      let decision: CachedDecision;
      try {
        decision = await this.authorize(values.length > 0 ? values.join('\u0000') : undefined, {
          type: 'REQUEST',
          methodArn,
          ...common,
          requestContext,
        } as unknown as APIGatewayRequestAuthorizerEvent);
      } catch (error) {
        if (error instanceof HttpError && error.status === 401) this.authorizerDecisions.unauthorized++;
        else this.authorizerDecisions.unavailable++;
        if (error instanceof HttpError) return send(res, error.status, error.body, error.headers);
        throw error;
      }
      if (evaluatePolicy(decision.policy, methodArn) !== 'Allow') {
        this.authorizerDecisions.deny++;
        return send(res, 403, { message: 'Forbidden' });
      }
      this.authorizerDecisions.allow++;
      // After the authorizer, before the integration, as API Gateway meters usage plans.
      const refusal = this.deps.usagePlans?.meter(decision.usageKey);
      if (refusal) return send(res, refusal.status, refusal.body, refusal.headers);
      authorizer = { ...decision.context, principalId: decision.principalId, integrationLatency: 0 };
    }

    const event = {
      ...common,
      requestContext: { ...requestContext, ...(authorizer ? { authorizer } : {}) },
      body: body === '' ? null : body,
      isBase64Encoded: false,
    } as unknown as APIGatewayProxyEvent;

    if (Buffer.byteLength(JSON.stringify(event), 'utf8') > MAX_INVOKE_PAYLOAD_BYTES)
      return send(res, 413, { message: 'Request Too Long' });

    let raw: unknown;
    try {
      raw = await this.deps.invoke(match.route.function, event);
    } catch (error) {
      const timedOut = error instanceof FunctionError && error.errorType === 'Sandbox.Timedout';
      this.deps.log('integration failed', { function: match.route.function, error: (error as Error).message });
      return send(res, timedOut ? 504 : 502, {
        message: timedOut ? 'Endpoint request timed out' : 'Internal server error',
      });
    }
    const parsed = ProxyResultSchema.safeParse(raw);
    if (!parsed.success) {
      this.deps.log('malformed Lambda proxy response', { function: match.route.function });
      return send(res, 502, { message: 'Internal server error' });
    }
    const result = parsed.data as APIGatewayProxyResult;
    res.statusCode = result.statusCode;
    for (const [k, v] of Object.entries(result.headers ?? {})) res.setHeader(k, String(v));
    for (const [k, v] of Object.entries(result.multiValueHeaders ?? {})) res.setHeader(k, v.map(String));
    const payload = result.body ?? '';
    res.end(result.isBase64Encoded ? Buffer.from(payload, 'base64') : payload);
  }

  private async authorize(
    identity: string | undefined,
    event: APIGatewayRequestAuthorizerEvent,
  ): Promise<CachedDecision> {
    const cached = identity === undefined ? undefined : this.cache.get(identity);
    if (cached && cached.expiresAt > Date.now()) return cached;
    this.authorizerInvocations++;
    let raw: unknown;
    try {
      raw = await this.deps.invoke(this.deps.authorizer.function, event);
    } catch (error) {
      if (error instanceof FunctionError && error.errorMessage === 'Unauthorized')
        throw new HttpError(401, { message: 'Unauthorized' });
      this.deps.log('authorizer failed', { error: (error as Error).message });
      throw authorizerUnavailable();
    }
    const parsed = AuthorizerResultSchema.safeParse(raw);
    if (!parsed.success) {
      // API Gateway's AuthorizerConfigurationException.
      this.deps.log('authorizer returned an invalid result');
      throw authorizerUnavailable();
    }
    const result = parsed.data as APIGatewayAuthorizerResult;
    const decision: CachedDecision = {
      principalId: result.principalId,
      policy: result.policyDocument as PolicyDocument,
      // API Gateway hands context values to the integration as strings.
      context: Object.fromEntries(Object.entries(result.context ?? {}).map(([k, v]) => [k, String(v)])),
      ...(parsed.data.usageIdentifierKey ? { usageKey: parsed.data.usageIdentifierKey } : {}),
      expiresAt: Date.now() + this.deps.authorizer.resultTtlSeconds * 1000,
    };
    if (identity !== undefined && this.deps.authorizer.resultTtlSeconds > 0) {
      if (this.cache.size >= CACHE_LIMIT) {
        const oldest = this.cache.keys().next().value;
        if (oldest !== undefined) this.cache.delete(oldest);
      }
      this.cache.set(identity, decision);
    }
    return decision;
  }
}

/** The gateway response the CDK stack sets for AUTHORIZER_CONFIGURATION_ERROR and AUTHORIZER_FAILURE. */
function authorizerUnavailable(): HttpError {
  const { statusCode, retryAfterSeconds, message } = AUTHORIZER_UNAVAILABLE;
  return new HttpError(statusCode, { message }, { 'retry-after': String(retryAfterSeconds) });
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

/** Why Node's HTTP parser refused a request, by its error code: what the caller is told (never the code itself). */
const UNPARSABLE: Readonly<Record<string, [number, string, string]>> = {
  HPE_HEADER_OVERFLOW: [431, 'Request Header Fields Too Large', `the request head is over ${MAX_HEAD_BYTES} bytes`],
  HPE_INVALID_HEADER_TOKEN: [400, 'Bad Request', 'a header name or value holds a character HTTP does not allow'],
  HPE_INVALID_CONTENT_LENGTH: [400, 'Bad Request', 'Content-Length is not a valid length'],
  HPE_UNEXPECTED_CONTENT_LENGTH: [400, 'Bad Request', 'Content-Length conflicts with Transfer-Encoding or repeats'],
  HPE_INVALID_TRANSFER_ENCODING: [400, 'Bad Request', 'Transfer-Encoding is not valid'],
  HPE_INVALID_METHOD: [400, 'Bad Request', 'the method is not an HTTP method'],
  HPE_INVALID_URL: [400, 'Bad Request', 'the request target is not a valid URL path'],
  ERR_HTTP_REQUEST_TIMEOUT: [408, 'Request Timeout', 'the request did not arrive in time'],
  ERR_HTTP_HEADERS_TIMEOUT: [408, 'Request Timeout', 'the request head did not arrive in time'],
};

/** What Node's HTTP parser refused, answered in JSON on the raw socket (there is no request or response object). */
function answerUnparsable(error: NodeJS.ErrnoException, socket: Duplex): void {
  if (error.code === 'ECONNRESET' || !socket.writable) return void socket.destroy();
  const [status, reason, why] = UNPARSABLE[error.code ?? ''] ?? [
    400,
    'Bad Request',
    'the request is not valid HTTP/1.1',
  ];
  const body = JSON.stringify({ message: `${reason}: ${why}` });
  socket.end(
    `HTTP/1.1 ${status} ${reason}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `x-amzn-requestid: ${randomUUID()}\r\nconnection: close\r\n\r\n${body}`,
  );
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return void res.end();
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.end(JSON.stringify(body));
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        tooLarge = true;
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () =>
      tooLarge
        ? reject(new HttpError(413, { message: 'Request Entity Too Large' }))
        : resolve(Buffer.concat(chunks).toString('utf8')),
    );
    req.on('error', reject);
  });
}

import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { APIGatewayProxyEvent, APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { evaluatePolicy } from '../../shared/domain/iam-policy';
import type { AuthorizerSpec, RouteSpec } from '../topology';
import { FunctionError } from './function-host';
import { type CachedDecision, CachingAuthorizer, identityKey } from './gateway-authorizer';
import {
  answerUnparsable,
  MAX_HEAD_BYTES,
  MAX_INVOKE_PAYLOAD_BYTES,
  MAX_METHOD_ARN_BYTES,
  oversizedHead,
  readBody,
} from './gateway-limits';
import { HttpError, send, sendProxyResult } from './gateway-responses';
import {
  API_ID,
  type CompiledRoute,
  compile,
  matchRoute,
  requestContextOf,
  requestValues,
  STAGE,
} from './gateway-routes';
import type { UsagePlanMeter } from './usage-plans';

export { AuthorizerResultSchema } from './gateway-authorizer';
export { HttpError } from './gateway-responses';

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

/**
 * API Gateway REST in front of the functions, as the CDK stack configures it: the routes of the topology, its
 * quotas (gateway-limits.ts), the REQUEST authorizer with its decision cache (gateway-authorizer.ts), usage plans,
 * and the Lambda proxy integration (payload format 1.0, gateway-routes.ts).
 */
export class LocalGateway {
  private server: Server | undefined;
  private readonly compiled: CompiledRoute[];
  private readonly authorizer: CachingAuthorizer;
  /** Answers by HTTP status, and requests on authorized routes by outcome: what the local dashboard shows. */
  readonly responses: Record<string, number> = {};
  readonly authorizerDecisions = { allow: 0, deny: 0, unauthorized: 0, missing_identity: 0, unavailable: 0 };

  constructor(private readonly deps: GatewayDeps) {
    this.compiled = deps.routes.map(compile);
    this.authorizer = new CachingAuthorizer(deps.authorizer, deps.invoke, deps.log);
  }

  get authorizerInvocations(): number {
    return this.authorizer.invocations;
  }

  /** Forget cached authorizer decisions (all, or one identity): immediate revocation, locally. */
  flushAuthorizerCache(identity?: string): void {
    this.authorizer.flush(identity);
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
      // Every header counts (Node would drop those after the 2000th): the size quotas bound them instead.
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
    const tooLarge = oversizedHead(req);
    if (tooLarge) return send(res, tooLarge.status, tooLarge.body);
    const url = new URL(req.url ?? '/', 'http://localhost');
    const method = (req.method ?? 'GET').toUpperCase();
    const matched = matchRoute(this.compiled, method, url.pathname);
    if (!matched) return send(res, 404, { message: 'Not Found' });
    const { match, params } = matched;

    let body: string;
    try {
      body = await readBody(req);
    } catch (error) {
      if (error instanceof HttpError) return send(res, error.status, error.body);
      throw error;
    }

    const { headers, multiValueHeaders, query, multiQuery } = requestValues(req, url);
    const resourcePath = url.pathname.replace(/\/$/, '') || '/';
    const methodArn = this.methodArn(method, resourcePath);
    if (match.route.auth !== 'none' && Buffer.byteLength(methodArn, 'utf8') > MAX_METHOD_ARN_BYTES)
      return send(res, 414, {
        message: `Request URI too long: the method ARN may have at most ${MAX_METHOD_ARN_BYTES} bytes`,
      });
    const userAgent = headers['User-Agent'] ?? headers['user-agent'] ?? null;
    const requestContext = requestContextOf(req, this.deps, match.route, method, resourcePath, requestId, userAgent);
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
      // API Gateway answers 401 itself, without calling the authorizer, when an identity source is missing.
      const identity = identityKey(this.deps.authorizer, headers);
      if (identity === null) {
        this.authorizerDecisions.missing_identity++;
        return send(res, 401, { message: 'Unauthorized' });
      }
      let decision: CachedDecision;
      try {
        decision = await this.authorizer.authorize(identity, {
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
    if (!sendProxyResult(res, raw)) {
      this.deps.log('malformed Lambda proxy response', { function: match.route.function });
      return send(res, 502, { message: 'Internal server error' });
    }
  }
}

import type { MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult } from 'aws-lambda';
import { Rejection, type RejectionKind } from './domain/errors';
import { logger } from './observability';

/** An error that is an answer: a status and a message meant for the caller, with the cause kept for the logs. */
export class HttpError extends Error {
  override readonly name = 'HttpError';
  constructor(
    readonly status: number,
    message: string,
    readonly details: Readonly<Record<string, unknown>> = {},
    options?: { cause?: unknown; headers?: Record<string, string> },
  ) {
    super(message, options);
    this.headers = options?.headers ?? {};
  }
  /** Response headers of the answer (`Retry-After` of a 503). */
  readonly headers: Readonly<Record<string, string>>;
}

/** The one place where a domain refusal becomes an HTTP status. */
export const REJECTION_STATUS: Readonly<Record<RejectionKind, number>> = {
  invalid: 400,
  forbidden: 403,
  'not-found': 404,
  'too-large': 413,
  'unsupported-media-type': 415,
};

export function json(status: number, body: unknown, headers: Record<string, string> = {}): APIGatewayProxyResult {
  return {
    statusCode: status,
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  };
}

/**
 * Maps errors to answers in one place: an HttpError becomes its status and message; anything else is logged with
 * its stack and answered with a generic 500, so internals never reach a caller.
 */
export function httpErrors(): MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult> {
  return {
    onError: (request) => {
      const error = request.error;
      if (error instanceof Rejection) {
        logger.info('request rejected', { status: REJECTION_STATUS[error.kind], reason: error.message });
        request.response = json(REJECTION_STATUS[error.kind], { message: error.message, ...error.details });
        return;
      }
      if (error instanceof HttpError) {
        if (error.status >= 500) logger.error('request failed', { status: error.status, error });
        else logger.info('request rejected', { status: error.status, reason: error.message });
        const message = error.status >= 500 && error.status !== 503 ? 'Internal server error' : error.message;
        request.response = json(error.status, { message, ...error.details }, { ...error.headers });
        return;
      }
      logger.error('unhandled error', { error });
      request.response = json(500, { message: 'Internal server error' });
    },
  };
}

/** Header lookup that ignores case, as HTTP does (API Gateway keeps the client's spelling). */
export function header(event: Pick<APIGatewayProxyEvent, 'headers'>, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    if (key.toLowerCase() === wanted && value !== undefined) return value;
  }
  return undefined;
}

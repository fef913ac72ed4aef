import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { HttpError } from './gateway-responses';
import { readBodyUpTo } from './http-body';

/** API Gateway REST's payload limit. */
const MAX_BODY_BYTES = 10 * 1024 * 1024;
/** API Gateway REST quotas: all header values together, the URL of a regional API, a method ARN with authorization. */
const MAX_HEADER_VALUES_BYTES = 10_240;
const MAX_URL_CHARS = 10_240;
export const MAX_METHOD_ARN_BYTES = 1600;
/** Lambda's synchronous invocation payload: the proxy event as JSON (API Gateway answers 413 "Request Too Long"). */
export const MAX_INVOKE_PAYLOAD_BYTES = 6 * 1024 * 1024;
/** How much of a request head Node parses, so that the quotas above are answered here, in JSON. */
export const MAX_HEAD_BYTES = 64 * 1024;

/** The answer to a request head over API Gateway's URL or header quotas; undefined when it is within them. */
export function oversizedHead(req: IncomingMessage): { status: number; body: { message: string } } | undefined {
  if ((req.url ?? '').length > MAX_URL_CHARS)
    return {
      status: 414,
      body: { message: `Request URI too long: the URL may have at most ${MAX_URL_CHARS} characters` },
    };
  let headerBytes = 0;
  for (let i = 1; i < req.rawHeaders.length; i += 2)
    headerBytes += Buffer.byteLength(req.rawHeaders[i] ?? '', 'latin1');
  if (headerBytes > MAX_HEADER_VALUES_BYTES)
    return {
      status: 431,
      body: {
        message: `Request header fields too large: all header values together may have at most ${MAX_HEADER_VALUES_BYTES} bytes, got ${headerBytes}`,
      },
    };
  return undefined;
}

/** The body as text; an HttpError 413 past API Gateway's payload limit. */
export async function readBody(req: IncomingMessage): Promise<string> {
  const body = await readBodyUpTo(req, MAX_BODY_BYTES);
  if (body === undefined) throw new HttpError(413, { message: 'Request Entity Too Large' });
  return body.toString('utf8');
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
export function answerUnparsable(error: NodeJS.ErrnoException, socket: Duplex): void {
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

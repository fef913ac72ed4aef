import type { ServerResponse } from 'node:http';
import type { APIGatewayProxyResult } from 'aws-lambda';
import { z } from 'zod';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
    readonly headers: Record<string, string> = {},
  ) {
    super(`HTTP ${status}`);
  }
}

const ProxyResultSchema = z.object({
  statusCode: z.number().int().min(100).max(599),
  headers: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).nullish(),
  multiValueHeaders: z.record(z.string(), z.array(z.union([z.string(), z.number(), z.boolean()]))).nullish(),
  body: z.string().nullish(),
  isBase64Encoded: z.boolean().nullish(),
});

/** A Lambda proxy integration's answer, as API Gateway relays it; false (nothing sent) when it is malformed. */
export function sendProxyResult(res: ServerResponse, raw: unknown): boolean {
  const parsed = ProxyResultSchema.safeParse(raw);
  if (!parsed.success) return false;
  const result = parsed.data as APIGatewayProxyResult;
  res.statusCode = result.statusCode;
  for (const [k, v] of Object.entries(result.headers ?? {})) res.setHeader(k, String(v));
  for (const [k, v] of Object.entries(result.multiValueHeaders ?? {})) res.setHeader(k, v.map(String));
  const payload = result.body ?? '';
  res.end(result.isBase64Encoded ? Buffer.from(payload, 'base64') : payload);
  return true;
}

/** A gateway response: JSON, as the CDK stack configures them. */
export function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.headersSent) return void res.end();
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  for (const [name, value] of Object.entries(headers)) res.setHeader(name, value);
  res.end(JSON.stringify(body));
}

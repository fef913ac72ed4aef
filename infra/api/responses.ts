import { z } from 'zod';
import type { DeviceMetricsAnswer, DeviceSummary } from '../../shared/domain/device-metrics';
import type { FieldError } from '../../shared/domain/errors';
import { MAX_EVENTS_PER_REQUEST } from '../../shared/domain/ingest';
import type { Page } from '../../shared/domain/listing';

/**
 * The bodies the HTTP API answers that no domain schema described yet (the handlers build them inline), as zod
 * schemas so the OpenAPI document is generated from them (infra/api/openapi.ts). The type checks at the end tie each
 * one to the domain type it stands for, so a change there fails `tsc` until the schema follows; the OpenAPI
 * integration test holds the live answers to them.
 */

/** Every refusal (gateway, authorizer, function): a non-empty `message` meant for the caller. */
export const ErrorSchema = z.object({ message: z.string().min(1) });

export const FieldErrorSchema = z.object({
  index: z.int().min(0).describe('Position of the event in the request (line for NDJSON)'),
  path: z.string().describe('Dotted path of the field in the event; empty for the event itself'),
  message: z.string(),
});

/** A refusal of `POST /events` (400, 403, 413): nothing of the request was written. */
export const IngestRejectionSchema = z.object({
  message: z.string().min(1),
  errors: z.array(FieldErrorSchema).optional().describe('Every problem found, by event (400, 413)'),
  index: z.int().min(0).optional().describe('The event whose type or source is not allowed (403)'),
});

export const IngestAcceptedSchema = z.object({
  accepted: z.int().min(1).max(MAX_EVENTS_PER_REQUEST).describe('Events in the stream'),
  ids: z.array(z.string().min(1)).describe('Their event ids, in request order (GET /events/{id} takes them)'),
});

/** The 503 of `POST /events`: the stream did not take some records; resend those at `failedIndexes`. */
export const IngestPartialFailureSchema = z.object({
  message: z.string().min(1),
  accepted: z.array(z.string()).describe('Ids in the stream'),
  failed: z.array(z.string()).describe('Ids not in the stream'),
  failedIndexes: z.array(z.int().min(0)).describe('Positions in the request of the failed events'),
});

/** The body of `POST /events` as `application/x-ndjson`. */
export const NdjsonEventsSchema = z
  .string()
  .describe(`One event (EventInput) per line, 1 to ${MAX_EVENTS_PER_REQUEST}; blank lines and \\r\\n endings are fine`);

export const TokenAnswerSchema = z.object({
  token: z.string().min(1).describe('Compact ES256 JWS; send as Authorization: Bearer <token>'),
  tokenType: z.literal('Bearer'),
  expiresIn: z.int().min(0).describe('Seconds until it expires'),
  expiresAt: z.string().describe('UTC ISO-8601 expiry (the API key expiry when that comes first)'),
});

/** A public key of this issuer: P-256, for ES256 signatures; never a private part. */
export const JwkSchema = z.object({
  kty: z.literal('EC'),
  crv: z.literal('P-256'),
  x: z.string().min(1),
  y: z.string().min(1),
  kid: z.string().min(1).describe('RFC 7638 thumbprint; the `kid` of the tokens it verifies'),
  alg: z.literal('ES256'),
  use: z.literal('sig'),
});
export const JwksSchema = z.object({ keys: z.array(JwkSchema).min(1) });

export const HealthSchema = z.object({
  status: z.enum(['ok', 'degraded']),
  service: z.string(),
  version: z.string(),
  node: z.string(),
  region: z.string(),
  coldStartAt: z.string(),
  checks: z
    .array(z.object({ name: z.string(), ok: z.boolean(), status: z.string().optional(), ms: z.number().min(0) }))
    .optional()
    .describe('For admins only: live checks of the event stream and the events table (503 when one fails)'),
});

export const MinuteAggregateSchema = z.object({
  minute: z.string().describe('UTC ISO-8601 start of the minute'),
  count: z.int().min(1),
  min: z.number(),
  max: z.number(),
  avg: z.number(),
  sum: z.number(),
  last: z.number(),
  lastAt: z.string(),
});

export const DeviceMetricsAnswerSchema = z.object({
  deviceId: z.string(),
  since: z.string(),
  until: z.string(),
  metrics: z
    .record(z.string(), z.array(MinuteAggregateSchema))
    .describe('Per metric name, its minutes in ascending order'),
});

/** What every list endpoint answers. */
export const pageOf = <T extends z.ZodType>(item: T) =>
  z.object({
    items: z.array(item),
    nextCursor: z
      .string()
      .nullable()
      .describe('Pass as `cursor` for the next page (opaque: do not build one); null on the last page'),
  });

/** This document itself: only what identifies it; the validator of the OpenAPI 3.1 schema does the rest. */
export const OpenApiDocumentSchema = z.looseObject({
  openapi: z.string().regex(/^3\.1\.\d+$/),
  info: z.looseObject({ title: z.string(), version: z.string() }),
  paths: z.record(z.string(), z.unknown()),
});

// Compile-time ties to the domain types: `tsc` fails when one of these stops being `true`.
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type Holds<T extends true> = T;
export type ResponseSchemaChecks = [
  Holds<Same<z.infer<typeof FieldErrorSchema>, FieldError>>,
  Holds<Same<z.infer<typeof DeviceMetricsAnswerSchema>, DeviceMetricsAnswer>>,
  Holds<Same<z.infer<ReturnType<typeof pageOf<z.ZodType<DeviceSummary>>>>, Page<DeviceSummary>>>,
];

import { z } from 'zod';
import { ALERT_STATES, AlertSchema } from '../../shared/domain/alerts';
import { DeviceSummarySchema, MetricNameSchema } from '../../shared/domain/device-metrics';
import {
  EventEnvelopeSchema,
  EventIdSchema,
  EventInputSchema,
  EventSourceSchema,
  EventTypeSchema,
} from '../../shared/domain/events';
import { IngestRequestSchema, MAX_EVENTS_PER_REQUEST } from '../../shared/domain/ingest';
import { DEFAULT_LIMIT, MAX_LIMIT } from '../../shared/domain/listing';
import { DeviceIdSchema } from '../../shared/domain/telemetry';
import type { routes } from '../topology';
import {
  DeviceMetricsAnswerSchema,
  ErrorSchema,
  FieldErrorSchema,
  HealthSchema,
  IngestAcceptedSchema,
  IngestPartialFailureSchema,
  IngestRejectionSchema,
  JwkSchema,
  JwksSchema,
  MinuteAggregateSchema,
  NdjsonEventsSchema,
  OpenApiDocumentSchema,
  pageOf,
  TokenAnswerSchema,
} from './responses';

/**
 * What the OpenAPI document says of each route beyond the topology (which gives method, path, permission, function
 * and auth): its parameters, body and answers, as the zod schemas the handlers validate with or answer in. Keyed by
 * route, typed from the topology's routes, so adding a route fails `tsc` (and test/unit/openapi.test.ts) until it is
 * described here.
 */

type KeyOf<R> = R extends { method: infer M extends string; path: infer P extends string } ? `${M} ${P}` : never;
export type RouteKey = KeyOf<(typeof routes)[number]>;

export interface HeaderDoc {
  description: string;
  schema: z.ZodType;
}

export interface ResponseDoc {
  description: string;
  /** Media type -> body schema; `application/json` when only a schema is given. */
  body?: z.ZodType | Readonly<Record<string, z.ZodType>>;
  headers?: Readonly<Record<string, HeaderDoc>>;
}

export interface OperationDoc {
  /** Said after the summary (the function's description in the topology). */
  description?: string;
  /** Only these credentials are accepted (default: an API key or a bearer token). */
  credentials?: readonly ('apiKey' | 'bearer')[];
  /** Path parameters, one property each; the path's `{names}` must match. */
  path?: z.ZodObject;
  /** Query parameters, one property each (the handler refuses any other: 400). */
  query?: z.ZodObject;
  /** Media type -> request body schema. */
  body?: Readonly<Record<string, z.ZodType>>;
  /** By status; the generator adds the gateway's and authorizer's answers (401/403/429/503/500) it does not give. */
  responses: Readonly<Record<number, ResponseDoc>>;
}

/** Schemas given a name (`#/components/schemas/<name>`), by how they are converted: request side or answer side. */
export const COMPONENTS = {
  input: { EventInput: EventInputSchema, IngestRequest: IngestRequestSchema },
  output: {
    Error: ErrorSchema,
    FieldError: FieldErrorSchema,
    IngestRejection: IngestRejectionSchema,
    IngestAccepted: IngestAcceptedSchema,
    IngestPartialFailure: IngestPartialFailureSchema,
    EventEnvelope: EventEnvelopeSchema,
    DeviceSummary: DeviceSummarySchema,
    MinuteAggregate: MinuteAggregateSchema,
    DeviceMetrics: DeviceMetricsAnswerSchema,
    Alert: AlertSchema,
    TokenAnswer: TokenAnswerSchema,
    Jwk: JwkSchema,
    Jwks: JwksSchema,
    Health: HealthSchema,
  },
} as const satisfies Record<'input' | 'output', Record<string, z.ZodType>>;

export const RetryAfterHeader: HeaderDoc = {
  description: 'Seconds to wait before sending again',
  schema: z.int().min(0).max(86_400),
};

const limit = z.int().min(1).max(MAX_LIMIT).default(DEFAULT_LIMIT).describe(`Page size, 1 to ${MAX_LIMIT}`);
const cursor = z.string().describe('The `nextCursor` of the previous page');
const time = (what: string) =>
  z
    .union([z.iso.datetime({ offset: true }), z.iso.date()])
    .optional()
    .describe(`${what} (ISO-8601 time with Z or an offset, or a date)`);
const cacheControl: HeaderDoc = { description: 'How long the answer may be cached', schema: z.string() };
const invalid = (what: string): ResponseDoc => ({ description: `Invalid ${what}`, body: ErrorSchema });

export const operations: Readonly<Record<RouteKey, OperationDoc>> = {
  'GET /healthz': {
    description: 'Admins also get live checks of the event stream and the events table.',
    responses: {
      200: { description: 'Healthy', body: HealthSchema },
      503: {
        description: 'Degraded (admins: a dependency check failed), or the authorizer is away',
        body: z.union([HealthSchema, ErrorSchema]),
      },
    },
  },
  'POST /events': {
    description:
      `One event, \`{"events": [...]}\` with 1 to ${MAX_EVENTS_PER_REQUEST} events, or NDJSON. All or nothing: an ` +
      'invalid event refuses the request. 202 only once the stream acknowledged every event (docs/ingestion.md).',
    body: { 'application/json': IngestRequestSchema, 'application/x-ndjson': NdjsonEventsSchema },
    responses: {
      202: { description: 'Every event is in the stream', body: IngestAcceptedSchema },
      400: { description: 'The body cannot be read, or an event is invalid', body: IngestRejectionSchema },
      403: {
        description: "The route is not among the caller's permissions, or an event's type or source is not allowed",
        body: IngestRejectionSchema,
      },
      413: { description: 'Too many events, or an event too large', body: IngestRejectionSchema },
      415: { description: 'Content-Type is not application/json or application/x-ndjson', body: ErrorSchema },
      503: {
        description: 'The stream did not take some events (resend those at `failedIndexes`), or the authorizer is away',
        body: z.union([IngestPartialFailureSchema, ErrorSchema]),
        headers: { 'Retry-After': RetryAfterHeader },
      },
    },
  },
  'GET /events': {
    description: 'Newest first, from the type or the source index. Device readings are listed by source only.',
    query: z.object({
      type: EventTypeSchema.optional().describe('Event type (give exactly one of type or source)'),
      source: EventSourceSchema.optional().describe('Event source, e.g. a device id (exactly one of type or source)'),
      since: time('Oldest occurredAt'),
      until: time('Newest occurredAt'),
      limit,
      cursor: cursor.optional(),
    }),
    responses: {
      200: { description: 'A page of events', body: pageOf(EventEnvelopeSchema) },
      400: invalid('query'),
    },
  },
  'GET /events/{id}': {
    path: z.object({ id: EventIdSchema.describe('An event id, as POST /events answered') }),
    responses: {
      200: { description: 'The stored event', body: EventEnvelopeSchema },
      400: invalid('event id'),
      404: { description: 'No event with this id', body: ErrorSchema },
    },
  },
  'GET /devices': {
    query: z.object({ limit, cursor: cursor.optional() }),
    responses: {
      200: {
        description: 'A page of devices with first and last seen and last reading',
        body: pageOf(DeviceSummarySchema),
      },
      400: invalid('query'),
    },
  },
  'GET /devices/{id}/metrics': {
    description: 'Per-minute aggregates of the last 60 minutes by default; at most 24 hours.',
    path: z.object({ id: DeviceIdSchema.describe('The device id') }),
    query: z.object({
      since: time('Start, default until - 60 minutes'),
      until: time('End, default now'),
      metric: MetricNameSchema.optional().describe('Only this metric (required past 20 metrics)'),
    }),
    responses: {
      200: { description: "The device's metrics", body: DeviceMetricsAnswerSchema },
      400: invalid('device id or query'),
      404: { description: 'No stored metrics for this device', body: ErrorSchema },
    },
  },
  'GET /alerts': {
    description: "Newest first: one device's alerts, or one state's, or both states merged.",
    query: z.object({
      deviceId: DeviceIdSchema.optional().describe('Only this device'),
      state: z.enum(ALERT_STATES).optional().describe('Only open or only resolved alerts'),
      since: time('Oldest raisedAt'),
      until: time('Newest raisedAt'),
      limit,
      cursor: cursor.optional(),
    }),
    responses: {
      200: { description: 'A page of alerts', body: pageOf(AlertSchema) },
      400: invalid('query'),
    },
  },
  'POST /auth/token': {
    description:
      'No body: the API key in X-API-Key is exchanged for a JWT of the same principal (a token cannot mint one).',
    credentials: ['apiKey'],
    responses: {
      200: { description: 'A bearer token', body: TokenAnswerSchema },
      403: { description: 'Not allowed, or the credential is itself a token', body: ErrorSchema },
    },
  },
  'GET /.well-known/jwks.json': {
    description: 'Verifiers of the tokens POST /auth/token issues fetch the keys here.',
    responses: {
      200: { description: 'The JSON Web Key Set', body: JwksSchema, headers: { 'Cache-Control': cacheControl } },
    },
  },
  'GET /openapi.json': {
    description: 'Generated from the topology and the zod schemas the functions validate with (docs/openapi.json).',
    responses: {
      200: { description: 'This document', body: OpenApiDocumentSchema, headers: { 'Cache-Control': cacheControl } },
    },
  },
};

/**
 * Device metrics: per device, metric and minute aggregates (count, min, max, sum, last) and the device registry
 * (first seen, last seen, last reading). Pure code: the DynamoDB side is `shared/aws/dynamo-device-metrics-store.ts`.
 * Keys, idempotency and limits: docs/decisions/0006-device-metrics.md.
 *
 * - `device-metrics/readings.ts`: readings from events, bucket keys;
 * - `device-metrics/writes.ts`: grouping a batch, the one write per bucket, `applyReadings`;
 * - `device-metrics/registry.ts`: one sighting per device and the registry writes it still needs;
 * - `device-metrics/cache.ts`: what a container remembers of the buckets and devices it wrote;
 * - `device-metrics/queries.ts`: `GET /devices/{id}/metrics` and `GET /devices`.
 */
export * from './device-metrics/cache';
export * from './device-metrics/queries';
export * from './device-metrics/readings';
export * from './device-metrics/registry';
export * from './device-metrics/writes';

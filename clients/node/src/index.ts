export type { FlushResult, TemClientOptions, TemClientSettings, TemCredentials } from './client.js';
export { TemClient } from './client.js';
export type { RetryInfo } from './delivery.js';
export {
  TemAuthError,
  TemBufferFullError,
  TemClosedError,
  TemDeliveryError,
  TemError,
  type TemIssue,
  TemRequestError,
  TemValidationError,
} from './errors.js';
export { type EventInput, LIMITS } from './event.js';
export type { RetryPolicy } from './retry.js';
export { monotonicUlid, ULID_PATTERN } from './ulid.js';

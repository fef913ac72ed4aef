/**
 * The small interfaces domain code talks to. AWS adapters live in `shared/aws/`; domain code never imports the SDK.
 */
import type { EventEnvelope } from './domain/events';
import type { RateLimitsOverride, UsagePlan } from './domain/rate-limits';

export interface ApiKeyRecord {
  keyId: string;
  principalId: string;
  secretHash: string;
  status: 'active' | 'revoked';
  createdAt: string;
  /** ISO time after which the key is refused (rotation grace periods end here too). */
  expiresAt?: string;
}

export interface PrincipalRecord {
  principalId: string;
  name: string;
  role: string;
  extra: string[];
  revoked: string[];
  /** Narrows the role's event types when set. */
  eventTypes?: string[];
  /** Overrides some of the role's rate limits (ADR 0013); enforced through `usageKey`. */
  limits?: RateLimitsOverride;
  /**
   * The principal's own usage key (`usageIdentifierKey`), registered in the usage plan of its limits. Without one the
   * principal shares its role's key (and bucket) with every other principal that has none.
   */
  usageKey?: string;
  createdAt: string;
}

/** An MQTT device's credential: the token's hash, never the token. */
export interface DeviceRecord {
  deviceId: string;
  principalId: string;
  tokenHash: string;
  status: 'active' | 'revoked';
  createdAt: string;
}

export interface PrincipalStore {
  getApiKey(keyId: string): Promise<ApiKeyRecord | undefined>;
  getPrincipal(principalId: string): Promise<PrincipalRecord | undefined>;
  putPrincipal(principal: PrincipalRecord): Promise<void>;
  putApiKey(key: ApiKeyRecord): Promise<void>;
  listApiKeys(): Promise<ApiKeyRecord[]>;
  getDevice(deviceId: string): Promise<DeviceRecord | undefined>;
  putDevice(device: DeviceRecord): Promise<void>;
  /**
   * A counter bumped by every credential or permission change. Authorizer containers poll it and drop their
   * cached decisions when it moves: revocation reaches every container within the poll interval.
   */
  getAuthEpoch(): Promise<number>;
  bumpAuthEpoch(): Promise<number>;
}

/**
 * Where usage keys are associated with usage plans: API Gateway's API keys and usage plan keys in AWS. The local
 * gateway needs none (a key names its plan), so the embedded stack's registry does nothing.
 */
export interface UsageKeyRegistry {
  /**
   * The scope of the keys' values (`usageKeyFor`): the mesh's name prefix in API Gateway, whose key values are unique
   * per account and region; unset, the default.
   */
  readonly keyScope?: string;
  /** Makes `key` an API key of `plan` (creating the key, and a custom plan, when missing). Idempotent. */
  register(key: string, plan: UsagePlan, principalId: string): Promise<void>;
}

/** One device's two items: its principal (`device:<id>`, role `device`) and its credential. */
export interface DeviceRegistration {
  principal: PrincipalRecord;
  device: DeviceRecord;
}

/**
 * Many devices at once, for fleets and simulations (`tem devices register --prefix --count`, `tem simulate`): the
 * same items `putPrincipal`/`putDevice` write, in as few calls as the store allows. Writes replace, as theirs do.
 */
export interface DeviceFleetStore {
  putDevicesBatch(registrations: readonly DeviceRegistration[]): Promise<void>;
  /** The ids of the registered devices whose id starts with `prefix`. */
  listDeviceIds(prefix: string): Promise<string[]>;
  /** Removes each device's credential and principal (absent ones are no error). */
  deleteDevicesBatch(deviceIds: readonly string[]): Promise<void>;
}

export interface StreamRecord {
  /** Event id: lets the caller tell which records failed. */
  id: string;
  partitionKey: string;
  data: Uint8Array;
}

export interface PublishOutcome {
  failed: { id: string; errorCode: string }[];
}

/** Writes records to the event stream; reports per-record failures rather than throwing for them. */
export interface EventPublisher {
  publish(records: readonly StreamRecord[]): Promise<PublishOutcome>;
}

export interface EventQuery {
  /** Exactly one of `type` and `source`: each has its time-ordered index. */
  by: { type: string } | { source: string };
  /** ISO times; inclusive bounds on `occurredAt`. */
  since?: string;
  until?: string;
  limit: number;
  /** The store's resume key from a previous page. */
  after?: Record<string, string | number>;
}

export interface StoreEntry {
  event: EventEnvelope;
  /** Epoch seconds after which the table may delete it (retention), if ever. */
  expiresAt?: number | undefined;
}

/** How long a write may keep retrying, and how to wait. */
export interface WriteBudget {
  /** Epoch ms after which no attempt is started (the caller keeps time to finish the last and answer). */
  retryUntil: number;
  sleep: (ms: number) => Promise<void>;
  random?: () => number;
  now?: () => number;
}

export interface EventStore {
  /**
   * Writes every entry (ids unique within the call), replacing an item of the same id. Returns the ids it could not
   * write within the budget (`unwritten`: a retry may succeed) and those the table refused as invalid (`refused`: no
   * retry can); every other one is stored.
   */
  putAll(
    entries: readonly StoreEntry[],
    budget: WriteBudget,
  ): Promise<{ unwritten: string[]; refused: { id: string; reason: string }[] }>;
  get(id: string): Promise<EventEnvelope | undefined>;
  /** Newest first. */
  list(query: EventQuery): Promise<{ items: EventEnvelope[]; next?: Record<string, unknown> }>;
}

/** The raw archive (ADR 0018): events kept where their volume is cheap, written at least once. */
export interface EventArchive {
  /**
   * Archives every event. Returns the ids not archived within the budget (`unarchived`: a retry may succeed) and
   * those that can never be (`refused`, with why); every other one is accepted by the archive.
   */
  putAll(
    events: readonly EventEnvelope[],
    budget: WriteBudget,
  ): Promise<{ unarchived: string[]; refused: { id: string; reason: string }[] }>;
}

export interface MessageSink {
  send(body: unknown): Promise<void>;
}

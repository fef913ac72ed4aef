import type { Alert, AlertMessage, AlertMessageType, AlertStateName, RuleState } from './model';

/** The two small ports the alerts engine and `GET /alerts` talk to; the AWS adapters are in `shared/aws/`. */

/** Where an alert message goes: the `alerts` queue, and the device's own MQTT topic. */
export type AlertChannel = 'queue' | 'device';
export const ALERT_CHANNELS: readonly AlertChannel[] = ['queue', 'device'];

/** Per message type, the channels that took it while another did not (its retry sends only to the others). */
export type ChannelMarks = Partial<Record<AlertMessageType, readonly AlertChannel[]>>;

export interface StoredAlert {
  alert: Alert;
  /** The message types whose delivery has been confirmed on every channel. */
  notified: AlertMessageType[];
  /** For a type not in `notified`: the channels that did take it. */
  channels?: ChannelMarks;
}

export interface AlertPartitionQuery {
  index: 'byDevice' | 'byState';
  /** The device id (byDevice) or the state (byState). */
  key: string;
  /** byDevice only: keep alerts in this state. */
  state?: AlertStateName;
  since?: string;
  until?: string;
  /** Continue after this `raisedAtKey` (exclusive). */
  after?: string;
  limit: number;
}

export interface AlertPartitionPage {
  /** Newest first. */
  items: Alert[];
  /** Where the query stopped, if it may have more: the `raisedAtKey` to continue after. */
  resumeAfter?: string;
}

export interface StateKey {
  deviceId: string;
  ruleId: string;
}

/** DynamoDB `BatchGetItem` reads at most 100 items per call: the engine asks `getStates` for at most that many. */
export const MAX_STATE_READ_BATCH = 100;

export interface AlertStore {
  /**
   * The states of up to MAX_STATE_READ_BATCH pairs, strongly consistent, in one call; keyed by `ruleStateKey`,
   * pairs without state absent. Throws when some could not be read.
   */
  getStates(keys: readonly StateKey[]): Promise<Map<string, RuleState>>;
  /**
   * Records `owner` as the container that applies the shard's next batch; true when it already was the last one to
   * claim it (no other container applied a batch of the shard since), so its cached states are current. One write.
   */
  claimShard(shardId: string, owner: string): Promise<boolean>;
  /** One pair's state, strongly consistent: the re-read after a lost race. */
  getState(deviceId: string, ruleId: string): Promise<RuleState | undefined>;
  /**
   * Writes `next` if the stored version is still `expectedVersion` (undefined: no state yet). For a raise it also
   * checks, in the same conditional write, that no alert is open and `lastRaisedAt <= raise.cutoff`. `false`: the
   * state changed since it was read.
   */
  putState(next: RuleState, expectedVersion: number | undefined, raise?: { cutoff: string }): Promise<boolean>;
  getAlert(alertId: string): Promise<StoredAlert | undefined>;
  /** Writes the alert item unless it exists; `false` when it did. */
  createAlert(alert: Alert): Promise<boolean>;
  /** Marks the alert item resolved (creating it from `alert` if it is missing); idempotent. */
  resolveAlert(alert: Alert): Promise<void>;
  /**
   * Records the confirmed delivery of these message types of one alert on every channel, and of `channels` on some
   * channels only, in one write.
   */
  markNotified(alertId: string, types: readonly AlertMessageType[], at: string, channels?: ChannelMarks): Promise<void>;
  queryAlerts(query: AlertPartitionQuery): Promise<AlertPartitionPage>;
}

export interface AlertNotifier {
  /**
   * Sends every message to each channel (or, for a message `skip` names by `messageKey`, to the other channels
   * only); returns those not delivered to all of them, and for those, the channels that did take them.
   */
  deliver(
    messages: readonly AlertMessage[],
    skip?: ReadonlyMap<string, readonly AlertChannel[]>,
  ): Promise<{ failed: AlertMessage[]; tookFailed?: ReadonlyMap<string, readonly AlertChannel[]> }>;
}

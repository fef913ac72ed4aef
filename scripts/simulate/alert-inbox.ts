import type { AlertMessageType } from '../../shared/domain/alerts';
import { alertKey } from './expected-alerts';
import { Latencies } from './progress';
import type { ReceivedAlert } from './reconcile';

/**
 * What the devices received on their alerts topics: every message (duplicates included, the reconciliation counts
 * them), and the latency from the reading that caused it (raise: `eventId`, resolve: `resolvedEventId`) to its
 * first arrival.
 */
export class AlertInbox {
  readonly received: ReceivedAlert[] = [];
  readonly latency = new Latencies();
  /** Messages that are not alert messages, or for another device than the topic's. */
  malformed = 0;
  private readonly seen = new Set<string>();

  /** `sentAt(deviceId, eventId)`: performance.now() when the device published that reading, if it did. */
  constructor(private readonly sentAt: (deviceId: string, eventId: string) => number | undefined) {}

  accept(deviceId: string, payload: Buffer, at: number): void {
    let message: {
      type?: unknown;
      alert?: { alertId?: unknown; deviceId?: unknown; eventId?: unknown; resolvedEventId?: unknown };
    };
    try {
      message = JSON.parse(payload.toString('utf8')) as typeof message;
    } catch {
      this.malformed++;
      return;
    }
    const { type, alert } = message;
    if (
      (type !== 'alert.raised' && type !== 'alert.resolved') ||
      typeof alert?.alertId !== 'string' ||
      alert.deviceId !== deviceId
    ) {
      this.malformed++;
      return;
    }
    const key = alertKey(alert.alertId, type as AlertMessageType);
    this.received.push({ key, deviceId });
    if (this.seen.has(key)) return;
    this.seen.add(key);
    const cause = type === 'alert.raised' ? alert.eventId : alert.resolvedEventId;
    const sentAt = typeof cause === 'string' ? this.sentAt(deviceId, cause) : undefined;
    if (sentAt !== undefined) this.latency.add(at - sentAt);
  }

  /** How many of these keys have arrived at least once. */
  arrived(keys: Iterable<string>): number {
    let n = 0;
    for (const key of keys) if (this.seen.has(key)) n++;
    return n;
  }
}

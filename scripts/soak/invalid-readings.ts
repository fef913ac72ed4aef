import { sleep } from '../../bench/lib/util';
import { telemetryTopic } from '../../shared/domain/iot-policy';
import type { Fleet } from '../simulate/fleet';

/**
 * Readings the consumers must refuse, published by the fleet's own devices beside their valid ones: a metric that
 * is not a number, no metric at all, more than the 100 metrics a reading may hold. Each is valid JSON (so the topic
 * rule puts it on the stream) and must end in `telemetryErrors`, never in the events table. Their `seq` numbers
 * start at INVALID_SEQ_BASE, far from the valid readings', which is how the run recognises them there.
 */

export const INVALID_SEQ_BASE = 1_000_000;

export interface InvalidReading {
  deviceId: string;
  seq: number;
  kind: string;
  acked: boolean;
}

const KINDS: { kind: string; metrics: () => Record<string, unknown> }[] = [
  { kind: 'metric not a number', metrics: () => ({ temperature: 'hot' }) },
  { kind: 'no metrics', metrics: () => ({}) },
  {
    kind: '101 metrics',
    metrics: () => Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`m${i}`, i])),
  },
];

export class InvalidPublisher {
  readonly readings: InvalidReading[] = [];
  acked = 0;
  errors = 0;

  constructor(
    private readonly fleet: Fleet,
    private readonly connected: readonly number[],
  ) {}

  async run(rate: number, durationMs: number, stop: () => boolean): Promise<void> {
    if (this.connected.length === 0) return;
    const started = performance.now();
    const total = Math.round((rate * durationMs) / 1000);
    for (let n = 0; n < total && !stop(); n++) {
      const due = started + ((n + 0.5) * 1000) / rate;
      if (due > performance.now()) await sleep(due - performance.now());
      const index = this.connected[n % this.connected.length] as number;
      const deviceId = this.fleet.devices[index]?.deviceId as string;
      const { kind, metrics } = KINDS[n % KINDS.length] as (typeof KINDS)[number];
      const reading: InvalidReading = { deviceId, seq: INVALID_SEQ_BASE + n, kind, acked: false };
      this.readings.push(reading);
      const payload = JSON.stringify({ ts: Date.now(), seq: reading.seq, metrics: metrics() });
      this.fleet.publish(index, telemetryTopic(deviceId), payload, (error) => {
        if (error) {
          this.errors++;
          return;
        }
        reading.acked = true;
        this.acked++;
      });
    }
  }
}

import { sleep } from '../../bench/lib/util';
import type { AlertRule } from '../../shared/domain/alert-rules';
import { basicIngestTelemetryTopic, telemetryTopic } from '../../shared/domain/iot-policy';
import type { Fleet } from './fleet';
import { Latencies } from './progress';
import { DeviceGenerator, readingEventId } from './readings';

/**
 * The publish phase: `rate` readings per second across the connected devices, in turns (device after device, so
 * each device publishes every `devices / rate` seconds), at QoS 1. Every reading is remembered with its event id and
 * whether its PUBACK came, which is what the reconciliation checks. When more than `maxInflight` publishes await
 * their PUBACK the run falls behind rather than piling up: readings due then are skipped, and counted.
 */

export interface SentReading {
  id: string;
  seq: number;
  ts: number;
  metrics: Record<string, number>;
  /** performance.now() at publish. */
  sentAt: number;
  acked: boolean;
}

export interface SimDevice {
  deviceId: string;
  /** Its connection in the fleet. */
  index: number;
  generator: DeviceGenerator;
  readings: SentReading[];
}

export interface PublisherOptions {
  rate: number;
  seed: number;
  rules: readonly AlertRule[];
  anomalyPercent: number;
  /** Readings to send in all (`rate × duration`), in turns: device k of n sends `total / n` of them, rounded. */
  total: number;
  basicIngest: boolean;
  maxInflight: number;
}

const TICK_MS = 10;

export class Publisher {
  readonly devices: SimDevice[];
  readonly ackLatency = new Latencies();
  sent = 0;
  acked = 0;
  errors = 0;
  skipped = 0;
  inflight = 0;
  private turn = 0;
  private readonly byId: Map<string, SimDevice>;

  constructor(
    private readonly fleet: Fleet,
    connected: readonly number[],
    private readonly options: PublisherOptions,
    private readonly onSent: (reading: SentReading) => void = () => {},
  ) {
    const n = Math.max(1, connected.length);
    this.devices = connected.map((index, k) => {
      const deviceId = fleet.devices[index]?.deviceId as string;
      return {
        deviceId,
        index,
        readings: [],
        generator: new DeviceGenerator({
          deviceId,
          seed: options.seed,
          rules: options.rules,
          anomalyPercent: options.anomalyPercent,
          // Exactly what this device will send (unless stopped early), so no anomaly starts too late to resolve.
          planned: Math.floor(options.total / n) + (k < options.total % n ? 1 : 0),
        }),
      };
    });
    this.byId = new Map(this.devices.map((d) => [d.deviceId, d]));
  }

  /** performance.now() when the device published the reading with this event id, if it did. */
  sentAt(deviceId: string, eventId: string): number | undefined {
    const readings = this.byId.get(deviceId)?.readings ?? [];
    // The reading behind an alert is a recent one: search from the end.
    for (let i = readings.length - 1; i >= 0; i--) if (readings[i]?.id === eventId) return readings[i]?.sentAt;
    return undefined;
  }

  /** Publishes the `total` readings, paced at `rate` per second, unless `stop()` says so first. */
  async run(stop: () => boolean): Promise<void> {
    if (this.devices.length === 0) return;
    const { total, rate } = this.options;
    const started = performance.now();
    let scheduled = 0;
    while (scheduled < total && !stop()) {
      const due = Math.min(total, Math.floor((rate * (performance.now() - started)) / 1000));
      for (; scheduled < due; scheduled++) {
        if (this.inflight >= this.options.maxInflight) this.skipped++;
        else this.publishNext();
      }
      if (scheduled < total) await sleep(TICK_MS);
    }
  }

  private publishNext(): void {
    const device = this.devices[this.turn++ % this.devices.length] as SimDevice;
    const payload = device.generator.next(Date.now());
    const reading: SentReading = {
      id: readingEventId(device.deviceId, payload),
      seq: payload.seq,
      ts: payload.ts,
      metrics: payload.metrics,
      sentAt: performance.now(),
      acked: false,
    };
    device.readings.push(reading);
    this.sent++;
    this.inflight++;
    const topic = this.options.basicIngest
      ? basicIngestTelemetryTopic(device.deviceId)
      : telemetryTopic(device.deviceId);
    this.fleet.publish(device.index, topic, JSON.stringify(payload), (error) => {
      this.inflight--;
      if (error) {
        this.errors++;
        return;
      }
      reading.acked = true;
      this.acked++;
      this.ackLatency.add(performance.now() - reading.sentAt);
    });
    this.onSent(reading);
  }

  /** Waits for the PUBACKs still due, at most `timeoutMs`. */
  async drain(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    while (this.inflight > 0 && performance.now() < deadline) await sleep(50);
  }
}

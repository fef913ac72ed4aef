import mqtt, { type MqttClient } from 'mqtt';
import { sleep } from '../../bench/lib/util';
import { alertsTopic } from '../../shared/domain/iot-policy';
import { idle } from './idle';

/**
 * The simulated devices' MQTT connections: one per device, each with its own credential (client id = username =
 * device id, password = its token), subscribed to its own alerts topic. Connections are opened a bounded number at
 * a time, each retried with full-jitter exponential backoff, so a connect storm slows the start instead of failing
 * it; once connected, a dropped connection reconnects by itself (jittered), resubscribes, and resends its
 * unacknowledged QoS 1 publishes.
 */

export interface FleetDevice {
  deviceId: string;
  token: string;
}

export interface FleetOptions {
  url: string;
  /** AWS IoT: `?x-amz-customauthorizer-name=<authorizer>` after the device id; empty locally. */
  usernameSuffix: string;
  /** Connection attempts in flight at once. */
  concurrency: number;
  /** Attempts per device before it counts as failed. */
  maxAttempts: number;
  /** When the whole connect phase gives up (a performance.now() time). */
  deadline: number;
  /** An alert message on the device's topic; `at` is performance.now(). */
  onMessage: (index: number, payload: Buffer, at: number) => void;
}

export interface ConnectReport {
  connected: number;
  failed: { deviceId: string; error: string }[];
  attempts: number;
  /** Devices that needed more than one attempt. */
  retried: number;
  /** Failed attempts by error, e.g. `{"Connection refused: Not authorized": 12}`. */
  errors: Record<string, number>;
  seconds: number;
}

const BACKOFF_BASE_MS = 250;
const BACKOFF_CAP_MS = 8_000;
const CONNECT_TIMEOUT_MS = 15_000;

export class Fleet {
  readonly clients: (MqttClient | undefined)[];
  /** After the connect phase: reconnects, closes and client errors of live connections. */
  reconnects = 0;
  drops = 0;
  errors = 0;
  subscribeRefused = 0;
  private closing = false;

  constructor(
    readonly devices: readonly FleetDevice[],
    private readonly options: FleetOptions,
  ) {
    this.clients = new Array(devices.length).fill(undefined);
  }

  async connect(onConnected?: (connected: number) => void): Promise<ConnectReport> {
    const started = performance.now();
    const report: ConnectReport = { connected: 0, failed: [], attempts: 0, retried: 0, errors: {}, seconds: 0 };
    let next = 0;
    const worker = async () => {
      while (next < this.devices.length) {
        const index = next++;
        const device = this.devices[index] as FleetDevice;
        let lastError = 'connect phase deadline passed';
        for (let attempt = 1; attempt <= this.options.maxAttempts; attempt++) {
          if (performance.now() > this.options.deadline) break;
          report.attempts++;
          if (attempt === 2) report.retried++;
          try {
            this.clients[index] = await this.open(index, device);
            report.connected++;
            onConnected?.(report.connected);
            lastError = '';
            break;
          } catch (error) {
            lastError = error instanceof Error ? error.message : String(error);
            report.errors[lastError] = (report.errors[lastError] ?? 0) + 1;
            if (attempt < this.options.maxAttempts)
              await sleep(Math.random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt));
          }
        }
        if (lastError) report.failed.push({ deviceId: device.deviceId, error: lastError });
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.options.concurrency, this.devices.length) }, worker));
    report.seconds = Math.round(performance.now() - started) / 1000;
    return report;
  }

  /** One attempt: CONNECT, then SUBSCRIBE to the device's alerts. Rejects on refusal, error, close or timeout. */
  private open(index: number, device: FleetDevice): Promise<MqttClient> {
    return new Promise((resolve, reject) => {
      const client = mqtt.connect(this.options.url, {
        clientId: device.deviceId,
        username: `${device.deviceId}${this.options.usernameSuffix}`,
        password: device.token,
        protocolVersion: 4,
        clean: true,
        keepalive: 60,
        // No automatic retry for the first connection: this class paces those; set after CONNACK.
        reconnectPeriod: 0,
        connectTimeout: CONNECT_TIMEOUT_MS,
        ...(this.options.url.startsWith('mqtts:') && new URL(this.options.url).port === '443'
          ? { ALPNProtocols: ['mqtt'] }
          : {}),
      });
      let settled = false;
      const onError = (error: Error) => fail(error.message);
      const onClose = () => fail('connection closed before CONNACK');
      // Only our own listeners come off: mqtt.js listens to its own connect and close events too.
      const detach = () => {
        client.off('error', onError);
        client.off('close', onClose);
      };
      const fail = (reason: string) => {
        if (settled) return;
        settled = true;
        detach();
        client.on('error', () => {});
        client.end(true);
        reject(new Error(reason));
      };
      client.on('error', onError);
      client.on('close', onClose);
      client.once('connect', () => {
        // From now on a drop reconnects by itself, jittered so that a broker restart is not a synchronized storm;
        // set before subscribing, so that mqtt.js resubscribes after a reconnect.
        client.options.reconnectPeriod = 1000 + Math.floor(Math.random() * 2000);
        client.subscribe(alertsTopic(device.deviceId), { qos: 1 }, (error, granted) => {
          if (error) return fail(`subscribe failed: ${error.message}`);
          if (settled) return;
          settled = true;
          detach();
          if (granted?.some((g) => g.qos === 128)) this.subscribeRefused++;
          client.on('message', (_topic, payload) => this.options.onMessage(index, payload, performance.now()));
          client.on('reconnect', () => this.reconnects++);
          client.on('close', () => {
            if (!this.closing) this.drops++;
          });
          client.on('error', () => this.errors++);
          resolve(client);
        });
      });
    });
  }

  connected(): number {
    return this.clients.reduce((n, c) => n + (c?.connected ? 1 : 0), 0);
  }

  /** A QoS 1 publish; `done` runs at the PUBACK, or with the error that ended it. */
  publish(index: number, topic: string, payload: string, done: (error?: Error) => void): boolean {
    const client = this.clients[index];
    if (!client) return false;
    client.publish(topic, payload, { qos: 1 }, (error) => done(error ?? undefined));
    return true;
  }

  /** Disconnects every device (DISCONNECT, a bounded number at a time; forced after `graceMs`). */
  async close(concurrency: number, graceMs = 10_000): Promise<void> {
    this.closing = true;
    const live = this.clients.filter((c): c is MqttClient => c !== undefined);
    let next = 0;
    const worker = async () => {
      while (next < live.length) {
        const client = live[next++] as MqttClient;
        client.options.reconnectPeriod = 0;
        await Promise.race([client.endAsync().catch(() => {}), idle(2_000)]);
      }
    };
    await Promise.race([
      Promise.all(Array.from({ length: Math.min(concurrency, live.length) }, worker)),
      idle(graceMs),
    ]);
    for (const client of live) client.end(true);
  }
}

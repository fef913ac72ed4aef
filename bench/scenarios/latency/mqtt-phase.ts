import mqtt from 'mqtt';
import { DynamoPrincipalStore } from '../../../shared/aws/dynamo-principal-store';
import { registerDevice } from '../../../shared/domain/admin';
import { type BenchContext, needStack } from '../../lib/context';
import { cpuMeter } from '../../lib/cpu';
import { type EngineClients, engineClients, runFloorProbe } from '../../lib/engines';
import { stackProcesses } from '../../lib/stack';
import { pool, progress, round, sleep, summarize, ticker } from '../../lib/util';
import type { Phase } from './http-phase';
import { invocationCounter, iteratorAges } from './stack-meters';
import { queryIds, waitForCount } from './stored-count';

const HIGH_TEMPERATURE = 85;

export interface Device {
  deviceId: string;
  token: string;
}

/**
 * Devices over MQTT, each its own connection (client id = username = device id, password = its token), subscribed
 * to its own alerts topic, publishing normal readings at a paced rate that sums to the target, and once a reading
 * over the high-temperature threshold: reading→alert from the scheduled publish to the alert message's arrival.
 * Every device must get its `alert.raised` (and, with the next normal reading, its `alert.resolved`) exactly once,
 * and every reading must be stored.
 */
export async function mqttPhase(
  ctx: BenchContext,
  clients: EngineClients,
  phase: Phase,
  devices: Device[],
  probe: () => Promise<number>,
) {
  const { info } = needStack(ctx);
  const n = devices.length;
  const perDevice = Math.max(4, Math.floor((phase.rate * phase.seconds) / n));
  const total = perDevice * n;
  const label = `step 6 MQTT ${phase.rate}/s`;
  const raised = devices.map(() => [] as number[]);
  const resolved = devices.map(() => [] as number[]);
  const hotAt: number[] = devices.map(() => Number.NaN);
  const acked = devices.map(() => 0);
  let publishErrors = 0;
  progress(`${label}: connecting ${n} devices`);
  const connections: mqtt.MqttClient[] = new Array(n);
  await pool(
    devices.map((d, i) => ({ d, i })),
    20,
    async ({ d, i }) => {
      const client = await mqtt.connectAsync(info.mqtt, {
        clientId: d.deviceId,
        username: d.deviceId,
        password: d.token,
        reconnectPeriod: 0,
        connectTimeout: 15_000,
      });
      client.on('error', () => {
        publishErrors++;
      });
      client.on('message', (_topic, payload) => {
        const now = performance.now();
        try {
          const message = JSON.parse(payload.toString('utf8')) as { type?: string; alert?: { ruleId?: string } };
          if (message.alert?.ruleId !== 'high-temperature') return;
          if (message.type === 'alert.raised') raised[i]?.push(now);
          if (message.type === 'alert.resolved') resolved[i]?.push(now);
        } catch {
          // not an alert message
        }
      });
      await client.subscribeAsync(`devices/${d.deviceId}/alerts`, { qos: 1 });
      connections[i] = client;
    },
  );
  // Warm-up, not measured: one normal reading per device (seq 0), so the consumers' containers are up.
  const publish = (d: number, seq: number, temperature: number) =>
    connections[d]?.publish(
      `devices/${devices[d]?.deviceId}/telemetry`,
      JSON.stringify({ metrics: { temperature, humidity: 40 }, seq }),
      { qos: 1 },
      (error) => {
        if (error) publishErrors++;
        else acked[d] = (acked[d] ?? 0) + 1;
      },
    );
  for (let d = 0; d < n; d++) publish(d, 0, 21.5);
  const warmDeadline = performance.now() + 30_000;
  while (acked.reduce((s, v) => s + v, 0) + publishErrors < n && performance.now() < warmDeadline) await sleep(50);
  await sleep(1500);
  // Each device's hot reading: spread over 10%..80% of the phase, never its last reading (a resolve follows).
  const hotIndex = devices.map((_, d) => Math.min(perDevice - 2, Math.floor((0.1 + (0.7 * d) / n) * perDevice)));

  const procs = stackProcesses(info);
  const invocations = await invocationCounter(info);
  const meter = cpuMeter(procs);
  const floor = runFloorProbe(probe, 200);
  const ages = iteratorAges(info);
  // As for HTTP: once the pipeline is 2 s of load behind (readings acked by the broker, not yet stored), normal
  // readings are shed (not published, counted); the hot ones, and the readings resolving them, always go.
  await sleep(600);
  const storedAtStart = ages.stored();
  const ackedAtStart = acked.reduce((s, v) => s + v, 0);
  const maxBacklog = Math.max(100, phase.rate * (ctx.quick ? 0.5 : 2));
  let shed = 0;
  const t0 = performance.now() + 20;
  let next = 0;
  const stop = ticker(5000, () => {
    const alerts = raised.filter((r) => r.length > 0).length;
    return `${label}: ${next}/${total} scheduled, ${shed} shed, ${acked.reduce((s, v) => s + v, 0)} acked, ${alerts}/${n} alerts received`;
  });
  while (next < total) {
    const now = performance.now();
    for (;;) {
      const scheduledAt = t0 + (next * 1000) / phase.rate;
      if (next >= total || scheduledAt > now) break;
      const d = next % n;
      const j = Math.floor(next / n);
      const hot = j === hotIndex[d];
      next++;
      const backlog = acked.reduce((s, v) => s + v, 0) - ackedAtStart - (ages.stored() - storedAtStart);
      // The hot reading and the one after it (which resolves its alert) are never shed.
      const resolving = j === (hotIndex[d] ?? -1) + 1;
      if (!hot && !resolving && backlog > maxBacklog) {
        shed++;
        continue;
      }
      if (hot) hotAt[d] = scheduledAt;
      publish(d, j + 1, hot ? HIGH_TEMPERATURE : 21.5);
    }
    await sleep(1);
  }
  const loadS = (performance.now() - t0) / 1000;
  const cpu = meter.read();
  const storedDuringLoad = ages.stored() - storedAtStart;
  const allAcked = () => acked.reduce((s, v) => s + v, 0) + publishErrors >= total - shed + n;
  const ackDeadline = performance.now() + 30_000;
  while (performance.now() < ackDeadline && !allAcked()) await sleep(100);
  const ackedTotal = acked.reduce((s, v) => s + v, 0);
  // Then every reading stored (the telemetry path may hold a backlog), then the alerts the last readings owe.
  progress(`${label}: ${ackedTotal} readings acked; waiting for every one to be stored`);
  const table = info.resources.eventsTable;
  const drain = await waitForCount(
    clients,
    table,
    devices.map((d) => d.deviceId),
    ackedTotal,
    ctx.quick ? 45 : 90,
    label,
  );
  const alertsDone = () => raised.every((r) => r.length > 0) && resolved.every((r) => r.length > 0);
  const alertDeadline = performance.now() + 15_000;
  while (performance.now() < alertDeadline && !alertsDone()) await sleep(100);
  await sleep(2000); // a late duplicate would arrive now
  stop();
  const floorSamples = floor.samples;
  await floor.stop();
  const iteratorAge = await ages.stop();
  await Promise.allSettled(connections.map((c) => c?.endAsync()));
  // An alert that never arrived is slower than any that did: ∞, so the percentiles are not flattered by it.
  const perReading = await invocations.per(acked.reduce((s, v) => s + v, 0) - ackedAtStart);
  const latencies = raised.map((r, d) =>
    r.length > 0 ? (r[0] as number) - (hotAt[d] as number) : Number.POSITIVE_INFINITY,
  );
  let storedReadings = 0;
  await pool(devices, 8, async (d) => {
    const found = (await queryIds(clients, table, d.deviceId, true)).count;
    storedReadings += found;
  });
  return {
    perReading,
    rate: phase.rate,
    seconds: phase.seconds,
    devices: n,
    loadS,
    readings: total - shed + n,
    warmUpReadings: n,
    shedReadings: shed,
    storedPerSecondDuringLoad: round(storedDuringLoad / loadS),
    acked: ackedTotal,
    publishErrors,
    storedReadings,
    drain,
    alertMs: summarize(latencies),
    alerts: {
      raisedMissing: raised.filter((r) => r.length === 0).length,
      raisedDuplicates: raised.filter((r) => r.length > 1).length,
      resolvedMissing: resolved.filter((r) => r.length === 0).length,
      resolvedDuplicates: resolved.filter((r) => r.length > 1).length,
    },
    floorMs: summarize(floorSamples),
    iteratorAgeMs: iteratorAge,
    cpu,
  };
}

export async function registerDevices(ctx: BenchContext, prefix: string, count: number): Promise<Device[]> {
  const { info } = needStack(ctx);
  const store = new DynamoPrincipalStore(engineClients(info, 16).dynamo, info.resources.principalsTable);
  const devices: Device[] = new Array(count);
  await pool(
    Array.from({ length: count }, (_, i) => i),
    16,
    async (i) => {
      const { deviceId, token } = await registerDevice(store, `${prefix}-${i}`);
      devices[i] = { deviceId, token };
    },
  );
  return devices;
}

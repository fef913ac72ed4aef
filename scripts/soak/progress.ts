/** The soak's once-a-second line on stderr: where the run is, what is down, what went through, what waits. */

export interface SoakSnapshot {
  elapsedSeconds: number;
  phase: string;
  down: string | undefined;
  mqtt: { sent: number; acked: number; inflight: number; invalidSent: number };
  http: { sent: number; acked: number; retries: number };
  bad: { requests: number; wrong: number };
  stored?: number;
  queues: { telemetryErrors: number; ruleErrors: number; eventsDlq: number };
  alerts: number;
  lagMs?: Readonly<Record<string, number>>;
}

export function soakLine(p: SoakSnapshot): string {
  const s = Math.floor(p.elapsedSeconds);
  const stamp = `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
  const lag = p.lagMs
    ? Object.entries(p.lagMs)
        .map(([fn, ms]) => `${fn} ${Math.round(ms)}`)
        .join(' ')
    : '';
  return [
    `[soak ${stamp}] ${p.phase}${p.down ? ` (${p.down} DOWN)` : ''}`,
    `mqtt ${p.mqtt.acked}/${p.mqtt.sent} acked, ${p.mqtt.inflight} in flight, ${p.mqtt.invalidSent} invalid`,
    `http ${p.http.acked}/${p.http.sent} acked, ${p.http.retries} retries`,
    `bad ${p.bad.requests} (${p.bad.wrong} not 4xx)`,
    ...(p.stored === undefined ? [] : [`stored ${p.stored}`]),
    `telemetryErrors ${p.queues.telemetryErrors} ruleErrors ${p.queues.ruleErrors} eventsDlq ${p.queues.eventsDlq}`,
    `alerts ${p.alerts}`,
    ...(lag ? [`lag ms ${lag}`] : []),
  ].join(' | ');
}

import { randomUUID } from 'node:crypto';
import type { Topology } from '../topology';
import { LOCAL_ACCOUNT, LOCAL_REGION } from './provision';

/**
 * EventBridge schedules: the function gets a scheduled event at its rate (or every `intervalSeconds`, in tests); a
 * run still going is not started twice.
 */
export function startSchedules(
  schedules: Topology['schedules'],
  intervalSeconds: number | undefined,
  invoke: (name: string, event: unknown) => Promise<unknown>,
  log: (message: string, fields?: Record<string, unknown>) => void,
): NodeJS.Timeout[] {
  // EventBridge schedules: the function gets a scheduled event at its rate; a run still going is not started twice.
  return schedules.map((schedule) => {
    let running = false;
    const everyMs = (intervalSeconds ?? schedule.rateMinutes * 60) * 1000;
    return setInterval(() => {
      if (running) return;
      running = true;
      invoke(schedule.function, {
        version: '0',
        id: randomUUID(),
        'detail-type': 'Scheduled Event',
        source: 'aws.events',
        account: LOCAL_ACCOUNT,
        time: new Date().toISOString(),
        region: LOCAL_REGION,
        resources: [`arn:aws:events:${LOCAL_REGION}:${LOCAL_ACCOUNT}:rule/tem-${schedule.function}`],
        detail: {},
      })
        .catch((error) =>
          log('scheduled function failed', { function: schedule.function, error: (error as Error).message }),
        )
        .finally(() => {
          running = false;
        });
    }, everyMs).unref();
  });
}

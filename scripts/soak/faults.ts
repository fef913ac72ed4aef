import { sleep } from '../../bench/lib/util';

/**
 * Fault injection: each engine stopped once and started again (`POST <control>/engines/<service>/stop|start`, what
 * `tem engine stop|start` calls), one after the other, spread over the run so the pipeline has recovered from one
 * outage before the next begins.
 */

export type Service = 'kinesis' | 'dynamodb' | 'sqs' | 'firehose';

export interface PlannedOutage {
  service: Service;
  /** Seconds after the traffic starts. */
  at: number;
  /** Seconds the engine stays stopped (from the moment it is gone). */
  down: number;
}

export interface Outage extends PlannedOutage {
  /** Seconds after the traffic started when the engine was gone, and when it answered again. */
  stoppedAt?: number;
  startedAt?: number;
  /** How long the engine was unavailable, stop request to the start's answer. */
  unavailableSeconds?: number;
  error?: string;
}

/**
 * Outages at 15 %, 32.5 %, 50 % and 67.5 % of the run, each for a fourteenth of it, 2 to 5 s. Firehose is the raw
 * archive's (ADR 0018): the store consumer's puts of readings fail while it is down.
 */
export function planOutages(durationSeconds: number): PlannedOutage[] {
  const down = Math.min(5, Math.max(2, Math.round(durationSeconds / 14)));
  const services: Service[] = ['kinesis', 'dynamodb', 'sqs', 'firehose'];
  return services.map((service, i) => ({ service, at: Math.round(durationSeconds * (0.15 + 0.175 * i)), down }));
}

const round1 = (n: number) => Math.round(n * 10) / 10;

export class FaultInjector {
  readonly outages: Outage[];
  /** The engine down right now, if any (for the progress line). */
  current: Service | undefined;

  constructor(
    private readonly control: string,
    plan: readonly PlannedOutage[],
  ) {
    this.outages = plan.map((p) => ({ ...p }));
  }

  private async call(service: Service, action: 'stop' | 'start'): Promise<void> {
    const response = await fetch(`${this.control}/engines/${service}/${action}`, {
      method: 'POST',
      signal: AbortSignal.timeout(90_000),
    });
    if (!response.ok) throw new Error(`${action} ${service}: ${response.status} ${await response.text()}`);
  }

  /** Runs the plan against `startedAt` (performance.now()); an outage not begun when `stop()` says so is skipped. */
  async run(startedAt: number, stop: () => boolean): Promise<void> {
    const elapsed = () => (performance.now() - startedAt) / 1000;
    for (const outage of this.outages) {
      while (elapsed() < outage.at && !stop()) await sleep(100);
      if (stop()) return;
      const requested = performance.now();
      this.current = outage.service;
      try {
        await this.call(outage.service, 'stop');
        outage.stoppedAt = round1(elapsed());
        await sleep(outage.down * 1000);
      } catch (error) {
        outage.error = (error as Error).message;
      } finally {
        // Whatever happened, the engine is started again: a soak never leaves the stack broken.
        try {
          await this.call(outage.service, 'start');
          outage.startedAt = round1(elapsed());
          outage.unavailableSeconds = round1((performance.now() - requested) / 1000);
        } catch (error) {
          outage.error = `${outage.error ? `${outage.error}; ` : ''}${(error as Error).message}`;
        }
        this.current = undefined;
      }
    }
  }
}

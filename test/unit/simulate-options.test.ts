import { describe, expect, it } from 'vitest';
import { CliError } from '../../scripts/lib/output';
import { MAX_READINGS, parseSimulateArgs } from '../../scripts/simulate/options';
import { Latencies, progressLine } from '../../scripts/simulate/progress';
import { figuresOf } from '../../scripts/simulate/stack-stats';

const usage = (argv: string[]) => {
  try {
    parseSimulateArgs(argv);
  } catch (error) {
    return error instanceof CliError ? `${error.exitCode} ${error.message.split('\n')[0]}` : String(error);
  }
  return 'accepted';
};

describe('tem simulate arguments', () => {
  it('reads the documented flags', () => {
    const options = parseSimulateArgs(
      ['--devices', '1000', '--rate', '1000', '--duration', '60', '--anomalies', '0.5', '--http-producers', '2'],
      () => 0.5,
    );
    expect(options).toMatchObject({
      devices: 1000,
      rate: 1000,
      duration: 60,
      anomalies: 0.5,
      httpProducers: 2,
      httpRate: 50,
      prefix: 'sim-',
      reuse: false,
      basicIngest: false,
      seed: 2 ** 31,
    });
    expect(parseSimulateArgs(['--reuse', '--basic-ingest', '--seed', '7'])).toMatchObject({
      reuse: true,
      basicIngest: true,
      seed: 7,
      devices: 10,
      rate: 10,
    });
  });

  it('enforces the hard caps and refuses what it does not know, as usage errors (exit 2)', () => {
    expect(usage(['--devices', '20001'])).toMatch(/^2 --devices must be an integer from 1 to 20000/);
    expect(usage(['--duration', '601'])).toMatch(/^2 --duration/);
    expect(usage(['--rate', '5001', '--devices', '20000'])).toMatch(/^2 --rate/);
    expect(usage(['--devices', '2000', '--rate', '5000', '--duration', '600'])).toBe(
      `2 --rate × --duration is at most ${MAX_READINGS} readings, got 3000000`,
    );
    expect(usage(['--devices', '1', '--rate', '51'])).toMatch(/^2 --rate is at most 50 readings per second per device/);
    expect(usage(['--anomalies', '101'])).toMatch(/^2 --anomalies/);
    expect(usage(['--devices', '1e3'])).toMatch(/^2 --devices/);
    expect(usage(['--prefix', 'a/b'])).toMatch(/^2 --prefix/);
    expect(usage(['--frobnicate'])).toMatch(/^2 Unknown option '--frobnicate'/);
    expect(usage(['extra'])).toMatch(/^2 /);
  });
});

describe('live figures', () => {
  it('keep a bounded uniform sample and count everything', () => {
    const latencies = new Latencies(100);
    for (let i = 1; i <= 10_000; i++) latencies.add(i);
    const summary = latencies.summary();
    expect(summary?.n).toBe(10_000);
    expect(summary?.p50).toBeGreaterThan(3000);
    expect(summary?.p50).toBeLessThan(7000);
    expect(new Latencies().summary()).toBeUndefined();
  });

  it('read lag and stored records from the control server stats, relative to the first answer', () => {
    const stats = (stored: number) => ({
      pollers: [
        { function: 'storeEvents', recordsProcessed: stored, iteratorAgeMs: 40 },
        { function: 'alerts', recordsProcessed: 9, iteratorAgeMs: 7 },
      ],
    });
    const first = figuresOf(stats(100), undefined);
    expect(first.processed).toBe(100);
    expect(figuresOf(stats(250), 100).figures).toEqual({ stored: 150, lagMs: { storeEvents: 40, alerts: 7 } });
    expect(figuresOf({ unrelated: true }, 100)).toEqual({ figures: {} });
    expect(figuresOf(null, undefined)).toEqual({ figures: {} });
  });

  it('print one progress line', () => {
    const line = progressLine({
      elapsedSeconds: 75.4,
      connected: 999,
      devices: 1000,
      sentPerSecond: 1000,
      sent: 75_000,
      acked: 74_990,
      inflight: 10,
      errors: 0,
      stored: 74_000,
      sendToStored: { n: 40, p50: 120.4, p99: 450.6, max: 500, mean: 150 },
      alerts: 12,
      lagMs: { storeEvents: 200 },
    });
    expect(line).toBe(
      '[simulate 01:15] conn 999/1000 | sent 1000/s (75000) | acked 74990 | inflight 10 | stored 74000 | errors 0 | ' +
        'send→stored p50 120 p99 451 ms | alerts 12 reading→alert n/a | lag storeEvents 200 ms',
    );
  });
});

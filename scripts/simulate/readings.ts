import type { AlertRule } from '../../shared/domain/alert-rules';
import { telemetryToEnvelope } from '../../shared/domain/telemetry';

/**
 * Simulated sensor readings, pure and reproducible: each device has its own seeded generator, base values, slow
 * drift and noise per metric; normal values stay on the safe side of every alert rule, and an anomaly is a reading
 * over one rule's threshold (as many in a row as the rule's window needs), after which the device reads normal again.
 */

/** What a device publishes (the telemetry payload). */
export interface SimReading {
  ts: number;
  seq: number;
  metrics: Record<string, number>;
}

/** A 32-bit FNV-1a hash of the parts: a seed per device from the run's seed. */
export function seedOf(...parts: readonly (string | number)[]): number {
  let hash = 0x811c9dc5;
  for (const char of parts.join('\u0000')) {
    hash ^= char.codePointAt(0) ?? 0;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}

/** mulberry32: small, fast, good enough for test data; [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface MetricProfile {
  /** The device's base value is drawn from this range. */
  base: readonly [number, number];
  /** Amplitude of a slow sine drift around the base, and its period in readings. */
  drift: number;
  period: number;
  /** Uniform noise of ±noise per reading. */
  noise: number;
  /** Added per reading (a battery drains). */
  trend?: number;
}

const PROFILES: Readonly<Record<string, MetricProfile>> = {
  temperature: { base: [18, 26], drift: 2, period: 300, noise: 0.3 },
  humidity: { base: [35, 60], drift: 5, period: 500, noise: 1 },
  pressure: { base: [1000, 1025], drift: 3, period: 900, noise: 0.4 },
  battery: { base: [40, 100], drift: 0, period: 1, noise: 0.05, trend: -0.01 },
};

/** The values of a metric that breach no rule: [min, max], with a margin of 1 from every threshold. */
export function safeRange(rules: readonly AlertRule[], metric: string): { min: number; max: number } {
  let min = Number.NEGATIVE_INFINITY;
  let max = Number.POSITIVE_INFINITY;
  for (const rule of rules) {
    if (rule.metric !== metric) continue;
    if (rule.comparison === '>' || rule.comparison === '>=') max = Math.min(max, rule.threshold - 1);
    else min = Math.max(min, rule.threshold + 1);
  }
  return { min, max };
}

/** A value that breaches the rule: 1 to 5 beyond its threshold (kept positive for a positive threshold). */
export function breachingValue(rule: AlertRule, random: () => number): number {
  const distance = 1 + random() * 4;
  if (rule.comparison === '>' || rule.comparison === '>=') return round2(rule.threshold + distance);
  const below = rule.threshold - distance;
  return round2(rule.threshold > 0 && below <= 0 ? rule.threshold / 2 : below);
}

function round2(n: number): number {
  const rounded = Math.round(n * 100) / 100;
  return rounded === 0 ? 0 : rounded;
}

/** A profile for a metric a rule names but the built-in profiles do not: around a value well on its safe side. */
function profileFor(rules: readonly AlertRule[], metric: string): MetricProfile {
  const known = PROFILES[metric];
  if (known) return known;
  const { min, max } = safeRange(rules, metric);
  const center = Number.isFinite(max) ? max - 10 : Number.isFinite(min) ? min + 10 : 0;
  return { base: [center - 2, center + 2], drift: 1, period: 400, noise: 0.2 };
}

interface Episode {
  rule: AlertRule;
  remaining: number;
}

export interface DeviceGeneratorOptions {
  deviceId: string;
  seed: number;
  rules: readonly AlertRule[];
  /** Percent (0..100) of readings that start an anomaly. */
  anomalyPercent: number;
  /** How many readings the device is expected to send: no anomaly starts too late to be followed by a normal one. */
  planned: number;
}

/** One device's readings, one `next()` at a time. */
export class DeviceGenerator {
  private readonly random: () => number;
  private readonly metrics: { name: string; profile: MetricProfile; base: number; phase: number }[];
  private readonly safe: Map<string, { min: number; max: number }>;
  private episode: Episode | undefined;
  private seq = 0;
  private lastTs = 0;
  private lastAnomaly = Number.NEGATIVE_INFINITY;
  /** Anomalous readings generated so far, by rule. */
  readonly anomalies = new Map<string, number>();

  constructor(private readonly options: DeviceGeneratorOptions) {
    this.random = prng(seedOf(options.seed, options.deviceId));
    const names = [...new Set([...Object.keys(PROFILES), ...options.rules.map((r) => r.metric)])];
    this.metrics = names.map((name) => {
      const profile = profileFor(options.rules, name);
      const [low, high] = profile.base;
      return { name, profile, base: low + this.random() * (high - low), phase: this.random() * 2 * Math.PI };
    });
    this.safe = new Map(names.map((name) => [name, safeRange(options.rules, name)]));
  }

  /** The next reading, taken at `ts` (epoch ms; made strictly increasing per device, so readings keep their order). */
  next(ts: number): SimReading {
    const index = this.seq++;
    this.lastTs = Math.max(ts, this.lastTs + 1);
    this.maybeStartEpisode(index);
    const metrics: Record<string, number> = {};
    for (const { name, profile, base, phase } of this.metrics) {
      const drift = profile.drift * Math.sin(phase + (2 * Math.PI * index) / profile.period);
      const noise = (this.random() * 2 - 1) * profile.noise;
      const { min, max } = this.safe.get(name) ?? { min: Number.NEGATIVE_INFINITY, max: Number.POSITIVE_INFINITY };
      metrics[name] = round2(Math.min(max, Math.max(min, base + drift + noise + (profile.trend ?? 0) * index)));
    }
    const episode = this.episode;
    if (episode) {
      metrics[episode.rule.metric] = breachingValue(episode.rule, this.random);
      this.anomalies.set(episode.rule.id, (this.anomalies.get(episode.rule.id) ?? 0) + 1);
      episode.remaining--;
      this.lastAnomaly = index;
      if (episode.remaining === 0) this.episode = undefined;
    }
    return { ts: this.lastTs, seq: index, metrics };
  }

  private maybeStartEpisode(index: number): void {
    const { rules, anomalyPercent, planned } = this.options;
    // The first reading is always normal: it resets a window a previous run may have left counting. So is the one
    // after an anomaly: it resolves the alert before another episode can begin.
    if (this.episode || index === 0 || index === this.lastAnomaly + 1 || rules.length === 0) return;
    if (this.random() * 100 >= anomalyPercent) return;
    const rule = rules[Math.floor(this.random() * rules.length)] as AlertRule;
    const count = rule.window?.count ?? 1;
    // Room for the whole episode and one normal reading after it (which resolves the alert).
    if (index + count + 1 > planned) return;
    this.episode = { rule, remaining: count };
  }
}

/** The event id the stack will give this reading (ADR 0011): `receivedAt` does not enter it when `ts` is sent. */
export function readingEventId(deviceId: string, reading: SimReading): string {
  return telemetryToEnvelope({ deviceId, receivedAt: reading.ts, ...reading }).id;
}

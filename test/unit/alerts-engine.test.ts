import { describe, expect, it } from 'vitest';
import { AlertFanOut, IotAlertPublisher, SqsAlertQueue } from '../../shared/aws/alert-notifier';
import { type AlertRule, parseAlertRules } from '../../shared/domain/alert-rules';
import {
  type Alert,
  AlertBatch,
  type AlertBatchShape,
  AlertEngine,
  type AlertMessage,
  type AlertMessageType,
  type AlertNotifier,
  AlertStateCache,
  type AlertStore,
  alertBatchShape,
  alertIdFor,
  type ChannelMarks,
  decide,
  MAX_RESOLUTIONS,
  MAX_STATE_READ_BATCH,
  minimumAlertCalls,
  type Reading,
  type RuleState,
  ruleStateKey,
  type StateKey,
} from '../../shared/domain/alerts';

/** The engine and the batch, against an in-memory store with the same conditional semantics as the DynamoDB adapter. */

const [hot, lowBattery] = parseAlertRules({
  rules: [
    { id: 'hot', description: 'hot', metric: 'temperature', comparison: '>', threshold: 80, severity: 'critical' },
    {
      id: 'battery',
      description: 'low',
      metric: 'battery',
      comparison: '<',
      threshold: 10,
      severity: 'warning',
      cooldownMinutes: 60,
      window: { count: 3 },
    },
  ],
}) as [AlertRule, AlertRule];

const T0 = Date.parse('2026-03-01T10:00:00.000Z');
let seq = 1000;
/** A reading `minutes` after T0, on shard 0 unless told, each at a later sequence number. */
function reading(metrics: Record<string, number>, minutes = 0, overrides: Partial<Reading> = {}): Reading {
  seq += 1;
  return {
    eventId: `evt-${seq}`,
    deviceId: 'dev-1',
    occurredAt: new Date(T0 + minutes * 60_000).toISOString(),
    metrics,
    position: { shardId: 'shardId-000000000000', sequenceNumber: `4959${String(seq).padStart(20, '0')}` },
    ...overrides,
  };
}

type StoreOp =
  | 'getStates'
  | 'getState'
  | 'putState'
  | 'getAlert'
  | 'createAlert'
  | 'resolveAlert'
  | 'markNotified'
  | 'claimShard';

class MemoryStore implements AlertStore {
  states = new Map<string, RuleState>();
  alerts = new Map<string, { alert: Alert; notified: AlertMessageType[] }>();
  failNext: Partial<Record<StoreOp, number>> = {};
  /** Fail only the calls about this device (any device when unset). */
  failDevice?: string;
  /** Runs between a read and the following putState (to interleave a competing writer). */
  beforePut?: () => Promise<void>;
  /** Calls per port method: one port call is one AWS call in the DynamoDB adapter. */
  calls: Record<StoreOp, number> = {
    getStates: 0,
    getState: 0,
    putState: 0,
    getAlert: 0,
    createAlert: 0,
    resolveAlert: 0,
    markNotified: 0,
    claimShard: 0,
  };
  /** The last owner to claim each shard. */
  leases = new Map<string, string>();
  /** The version checks the writes made, and whether each passed. */
  checks: { expected: number | undefined; ok: boolean }[] = [];

  private enter(op: StoreOp, deviceId?: string) {
    this.calls[op]++;
    const n = this.failNext[op] ?? 0;
    if (n > 0 && (this.failDevice === undefined || deviceId === undefined || deviceId === this.failDevice)) {
      this.failNext[op] = n - 1;
      throw new Error(`${op} failed`);
    }
  }

  async getStates(keys: readonly StateKey[]) {
    this.enter('getStates');
    if (keys.length > MAX_STATE_READ_BATCH) throw new Error('too many keys for one BatchGetItem');
    const out = new Map<string, RuleState>();
    for (const { deviceId, ruleId } of keys) {
      const s = this.states.get(ruleStateKey(deviceId, ruleId));
      if (s) out.set(ruleStateKey(deviceId, ruleId), structuredClone(s));
    }
    return out;
  }

  async claimShard(shardId: string, owner: string) {
    this.enter('claimShard');
    const held = this.leases.get(shardId) === owner;
    this.leases.set(shardId, owner);
    return held;
  }

  async getState(deviceId: string, ruleId: string) {
    this.enter('getState', deviceId);
    const s = this.states.get(ruleStateKey(deviceId, ruleId));
    return s ? structuredClone(s) : undefined;
  }

  async putState(next: RuleState, expected: number | undefined, raise?: { cutoff: string }) {
    const hook = this.beforePut;
    this.beforePut = undefined;
    if (hook) await hook();
    this.enter('putState', next.deviceId);
    const key = ruleStateKey(next.deviceId, next.ruleId);
    const current = this.states.get(key);
    const ok =
      (expected === undefined ? current === undefined : current?.version === expected) &&
      !(raise && (current?.open || (current?.lastRaisedAt !== undefined && current.lastRaisedAt > raise.cutoff)));
    this.checks.push({ expected, ok });
    if (!ok) return false;
    this.states.set(key, structuredClone(next));
    return true;
  }

  /** Channel marks, kept apart so that the alert entries compare as before. */
  channelMarks = new Map<string, ChannelMarks>();

  async getAlert(alertId: string) {
    this.enter('getAlert');
    const a = this.alerts.get(alertId);
    const channels = this.channelMarks.get(alertId);
    return a ? { ...structuredClone(a), ...(channels ? { channels: structuredClone(channels) } : {}) } : undefined;
  }

  async createAlert(alert: Alert) {
    this.enter('createAlert', alert.deviceId);
    if (this.alerts.has(alert.alertId)) return false;
    this.alerts.set(alert.alertId, { alert, notified: [] });
    return true;
  }

  async resolveAlert(alert: Alert) {
    this.enter('resolveAlert', alert.deviceId);
    const existing = this.alerts.get(alert.alertId);
    this.alerts.set(alert.alertId, { alert, notified: existing?.notified ?? [] });
  }

  async markNotified(alertId: string, types: readonly AlertMessageType[], _at?: string, channels?: ChannelMarks) {
    this.enter('markNotified');
    this.alerts.get(alertId)?.notified.push(...types);
    if (channels) this.channelMarks.set(alertId, { ...this.channelMarks.get(alertId), ...channels });
  }

  async queryAlerts(): Promise<never> {
    throw new Error('not used');
  }

  resetCalls() {
    for (const op of Object.keys(this.calls) as StoreOp[]) this.calls[op] = 0;
  }
}

class FakeNotifier implements AlertNotifier {
  delivered: AlertMessage[] = [];
  calls = 0;
  failing = false;
  async deliver(messages: readonly AlertMessage[]) {
    this.calls++;
    if (this.failing) return { failed: [...messages] };
    this.delivered.push(...messages);
    return { failed: [] };
  }
}

/** One invocation: the readings as records (id = sequence number), applied, delivered; returns the failed record ids. */
async function applyBatch(
  engine: AlertEngine,
  notifier: AlertNotifier,
  store: AlertStore,
  readings: Reading[],
): Promise<string[]> {
  const batch = new AlertBatch(engine, notifier, store);
  for (const r of readings) batch.add(r.position.sequenceNumber, r);
  return (await batch.run()).failedRecordIds;
}

describe('AlertEngine and AlertBatch', () => {
  it('raises once for a sustained condition, notifies once, marks it notified, then resolves', async () => {
    const store = new MemoryStore();
    const notifier = new FakeNotifier();
    const engine = new AlertEngine([hot, lowBattery], store);
    const readings = [85, 86, 87].map((t, i) => reading({ temperature: t, humidity: 3 }, i));
    expect(await applyBatch(engine, notifier, store, readings)).toEqual([]);
    expect(notifier.delivered.map((m) => m.type)).toEqual(['alert.raised']);
    const raised = notifier.delivered[0]?.alert as Alert;
    expect(store.alerts.get(raised.alertId)).toEqual({ alert: raised, notified: ['alert.raised'] });
    // Three readings of one pair: one read, one write.
    expect(store.calls).toMatchObject({ getStates: 1, putState: 1, createAlert: 1, markNotified: 1 });
    expect(store.states.get('dev-1#hot')).toMatchObject({ consecutive: 3, version: 1 });
    expect(store.states.get('dev-1#hot')?.recentEventIds).toEqual(readings.map((r) => r.eventId));

    expect(await applyBatch(engine, notifier, store, [reading({ temperature: 20 }, 5)])).toEqual([]);
    expect(notifier.delivered.map((m) => m.type)).toEqual(['alert.raised', 'alert.resolved']);
    expect(store.alerts.get(raised.alertId)?.alert.state).toBe('resolved');
    expect(store.alerts.get(raised.alertId)?.notified).toEqual(['alert.raised', 'alert.resolved']);
  });

  it('concurrent readings of one device on two shards still raise exactly one alert', async () => {
    const store = new MemoryStore();
    const notifier = new FakeNotifier();
    const engine = new AlertEngine([hot], store);
    const a = Array.from({ length: 5 }, (_, i) =>
      reading({ temperature: 90 }, i / 10, { position: { shardId: 'shard-a', sequenceNumber: String(100 + i) } }),
    );
    const b = Array.from({ length: 5 }, (_, i) =>
      reading({ temperature: 90 }, i / 10, { position: { shardId: 'shard-b', sequenceNumber: String(100 + i) } }),
    );
    await Promise.all([applyBatch(engine, notifier, store, a), applyBatch(engine, notifier, store, b)]);
    expect(notifier.delivered.filter((m) => m.type === 'alert.raised')).toHaveLength(1);
    expect(store.alerts.size).toBe(1);
    expect(store.states.get('dev-1#hot')?.consecutive).toBe(10);
    // The loser of the race re-read the state and wrote against the winner's version.
    expect(store.checks).toEqual([
      { expected: undefined, ok: true },
      { expected: undefined, ok: false },
      { expected: 1, ok: true },
    ]);
  });

  it('a write that loses the race is re-read and re-decided: no second raise', async () => {
    const store = new MemoryStore();
    const engine = new AlertEngine([hot], store);
    const mine = reading({ temperature: 90 }, 0, { position: { shardId: 'a', sequenceNumber: '1' } });
    const theirs = reading({ temperature: 91 }, 0, { position: { shardId: 'b', sequenceNumber: '1' } });
    store.beforePut = async () => {
      await engine.evaluate(theirs); // wins: raises first
    };
    expect(await engine.evaluate(mine)).toEqual([]);
    expect([...store.alerts.values()].map((a) => a.alert.eventId)).toEqual([theirs.eventId]);
    expect(store.states.get('dev-1#hot')).toMatchObject({ consecutive: 2, version: 2 });
  });

  it('a stale state (another writer since the read) is never written over: the version check refuses it', async () => {
    const store = new MemoryStore();
    const engine = new AlertEngine([lowBattery], store);
    const notifier = new FakeNotifier();
    await applyBatch(engine, notifier, store, [reading({ battery: 5 }), reading({ battery: 5 })]);
    // Between our read and our write, another shard applies a good reading (resets the count).
    store.beforePut = async () => {
      await engine.evaluate(reading({ battery: 50 }, 1, { position: { shardId: 'b', sequenceNumber: '1' } }));
    };
    await applyBatch(engine, notifier, store, [reading({ battery: 5 }, 2)]);
    // Judged again after the good reading: 1 in a row, not 3, so no raise.
    expect(store.states.get('dev-1#battery')?.consecutive).toBe(1);
    expect(notifier.delivered).toEqual([]);
  });

  it('gives up (the record fails) when the state keeps changing', async () => {
    const store = new MemoryStore();
    const engine = new AlertEngine([hot], store, 2);
    let n = 0;
    const competitor = async () => {
      n++;
      await store.putState(
        {
          deviceId: 'dev-1',
          ruleId: 'hot',
          version: n,
          open: false,
          consecutive: 0,
          positions: {},
          recentEventIds: [],
          raises: [],
          resolutions: [],
        },
        n === 1 ? undefined : n - 1,
      );
      store.beforePut = competitor;
    };
    store.beforePut = competitor;
    await expect(engine.evaluate(reading({ temperature: 90 }))).rejects.toThrow(/kept changing \(2 attempts\)/);
  });

  it('a retry after the notification failed finishes the job: same alert, notified once delivered', async () => {
    const store = new MemoryStore();
    const notifier = new FakeNotifier();
    const engine = new AlertEngine([hot], store);
    const r = reading({ temperature: 85 });
    notifier.failing = true;
    expect(await applyBatch(engine, notifier, store, [r])).toEqual([r.position.sequenceNumber]);
    expect(store.alerts.size).toBe(1);
    notifier.failing = false;
    expect(await applyBatch(engine, notifier, store, [r])).toEqual([]);
    expect(notifier.delivered).toEqual([
      { type: 'alert.raised', alert: expect.objectContaining({ eventId: r.eventId }) },
    ]);
    // Delivered and marked: a third delivery of the record owes nothing.
    expect(await applyBatch(engine, notifier, store, [r])).toEqual([]);
    expect(notifier.delivered).toHaveLength(1);
  });

  it('a retry after one channel failed sends only to the other: neither the device nor the queue gets it twice', async () => {
    for (const down of ['queue', 'device'] as const) {
      const store = new MemoryStore();
      const queued: AlertMessage[] = [];
      const published: AlertMessage[] = [];
      let outage = true;
      const notifier = new AlertFanOut(
        {
          send: async (ms) => {
            if (outage && down === 'queue') return [...ms];
            queued.push(...ms);
            return [];
          },
        },
        {
          publish: async (ms) => {
            if (outage && down === 'device') return [...ms];
            published.push(...ms);
            return [];
          },
        },
      );
      const engine = new AlertEngine([hot], store);
      const r = reading({ temperature: 85 });
      expect(await applyBatch(engine, notifier, store, [r])).toEqual([r.position.sequenceNumber]);
      expect([queued.length, published.length]).toEqual(down === 'queue' ? [0, 1] : [1, 0]);
      // Still down: the retry sends to the failed channel only, the other does not get it again.
      expect(await applyBatch(engine, notifier, store, [r])).toEqual([r.position.sequenceNumber]);
      expect([queued.length, published.length]).toEqual(down === 'queue' ? [0, 1] : [1, 0]);
      outage = false;
      expect(await applyBatch(engine, notifier, store, [r])).toEqual([]);
      expect(await applyBatch(engine, notifier, store, [r])).toEqual([]);
      expect([queued.length, published.length]).toEqual([1, 1]);
    }
  });

  it('a retry after the alert item write failed writes it and notifies', async () => {
    const store = new MemoryStore();
    const notifier = new FakeNotifier();
    const engine = new AlertEngine([hot], store);
    const r = reading({ temperature: 85 });
    store.failNext.createAlert = 1;
    expect(await applyBatch(engine, notifier, store, [r])).toEqual([r.position.sequenceNumber]);
    expect(store.alerts.size).toBe(0);
    expect(store.states.get('dev-1#hot')?.open).toBe(true);
    expect(await applyBatch(engine, notifier, store, [r])).toEqual([]);
    expect(store.alerts.size).toBe(1);
    expect(notifier.delivered.map((m) => m.alert.alertId)).toEqual([alertIdFor('dev-1', 'hot', r.eventId)]);
  });

  it('a retry of a resolving reading re-sends alert.resolved until delivered', async () => {
    const store = new MemoryStore();
    const notifier = new FakeNotifier();
    const engine = new AlertEngine([hot], store);
    await applyBatch(engine, notifier, store, [reading({ temperature: 85 })]);
    const cool = reading({ temperature: 20 }, 1);
    notifier.failing = true;
    expect(await applyBatch(engine, notifier, store, [cool])).toEqual([cool.position.sequenceNumber]);
    notifier.failing = false;
    expect(await applyBatch(engine, notifier, store, [cool])).toEqual([]);
    expect(await applyBatch(engine, notifier, store, [cool])).toEqual([]);
    expect(notifier.delivered.map((m) => m.type)).toEqual(['alert.raised', 'alert.resolved']);
  });

  it('a retry after the resolve of the alert item failed resolves it and notifies', async () => {
    const store = new MemoryStore();
    const notifier = new FakeNotifier();
    const engine = new AlertEngine([hot], store);
    const hotReading = reading({ temperature: 85 });
    await applyBatch(engine, notifier, store, [hotReading]);
    const alertId = alertIdFor('dev-1', 'hot', hotReading.eventId);
    const cool = reading({ temperature: 20 }, 1);
    store.failNext.resolveAlert = 1;
    expect(await applyBatch(engine, notifier, store, [cool])).toEqual([cool.position.sequenceNumber]);
    expect(store.alerts.get(alertId)?.alert.state).toBe('open');
    expect(store.states.get('dev-1#hot')?.open).toBe(false);
    expect(await applyBatch(engine, notifier, store, [cool])).toEqual([]);
    expect(store.alerts.get(alertId)?.alert).toMatchObject({ state: 'resolved', resolvedEventId: cool.eventId });
    expect(notifier.delivered.map((m) => m.type)).toEqual(['alert.raised', 'alert.resolved']);
  });

  it('a failed alert.resolved is re-sent even when a later reading in the batch raised a new alert', async () => {
    const store = new MemoryStore();
    const engine = new AlertEngine([hot], store);
    await applyBatch(engine, new FakeNotifier(), store, [reading({ temperature: 85 }, 0)]);
    const cool = reading({ temperature: 20 }, 30);
    const again = reading({ temperature: 90 }, 31); // past the cooldown: a new alert
    const flaky: AlertNotifier = {
      deliver: async (messages) => ({ failed: messages.filter((m) => m.type === 'alert.resolved') }),
    };
    expect(await applyBatch(engine, flaky, store, [cool, again])).toEqual([cool.position.sequenceNumber]);
    const notifier = new FakeNotifier();
    expect(await applyBatch(engine, notifier, store, [cool, again])).toEqual([]);
    expect(notifier.delivered.map((m) => m.type)).toEqual(['alert.resolved']);
  });

  it('a raise and its resolve in one batch: one alert item (an upsert), both notifications, each once', async () => {
    const store = new MemoryStore();
    const notifier = new FakeNotifier();
    const engine = new AlertEngine([hot], store);
    const spike = reading({ temperature: 85 }, 0);
    const cool = reading({ temperature: 20 }, 1);
    expect(await applyBatch(engine, notifier, store, [reading({ temperature: 20 }, 0), spike, cool])).toEqual([]);
    expect(notifier.delivered.map((m) => `${m.type} ${m.alert.state}`)).toEqual([
      'alert.raised open',
      'alert.resolved resolved',
    ]);
    expect(store.calls).toMatchObject({ getStates: 1, putState: 1, createAlert: 0, resolveAlert: 1, markNotified: 1 });
    const alertId = alertIdFor('dev-1', 'hot', spike.eventId);
    expect(store.alerts.get(alertId)).toMatchObject({
      alert: { state: 'resolved', eventId: spike.eventId, resolvedEventId: cool.eventId },
      notified: ['alert.raised', 'alert.resolved'],
    });
  });

  it('when that one alert item write fails, the retry (from the raise) writes it and owes both notifications', async () => {
    const store = new MemoryStore();
    const notifier = new FakeNotifier();
    const engine = new AlertEngine([{ ...hot, cooldownMinutes: 0 }], store);
    const spike = reading({ temperature: 85 }, 0);
    const cool = reading({ temperature: 20 }, 1);
    const spike2 = reading({ temperature: 95 }, 2); // a second alert in the same batch (no cooldown)
    store.failNext.resolveAlert = 1;
    const failed = await applyBatch(engine, notifier, store, [spike, cool, spike2]);
    // Failed from the reading that raised the alert whose item is missing: all three are redelivered.
    expect(failed).toEqual([spike, cool, spike2].map((r) => r.position.sequenceNumber));
    expect(store.alerts.size).toBe(0);
    expect(notifier.delivered).toEqual([]);
    // The state recorded all three (both raises and the resolve are in its lists); the retry finishes each.
    expect(await applyBatch(engine, notifier, store, [spike, cool, spike2])).toEqual([]);
    expect(notifier.delivered.map((m) => `${m.type} ${m.alert.eventId}`)).toEqual([
      `alert.raised ${spike.eventId}`,
      `alert.resolved ${spike.eventId}`,
      `alert.raised ${spike2.eventId}`,
    ]);
    expect([...store.alerts.values()].map((a) => `${a.alert.eventId} ${a.alert.state}`).sort()).toEqual(
      [`${spike.eventId} resolved`, `${spike2.eventId} open`].sort(),
    );
  });

  it('more raises and resolves than the state remembers in one batch: written in several steps, none lost', async () => {
    const store = new MemoryStore();
    const notifier = new FakeNotifier();
    const engine = new AlertEngine([{ ...hot, cooldownMinutes: 0 }], store);
    const flapping = Array.from({ length: 16 }, (_, i) => reading({ temperature: i % 2 === 0 ? 90 : 10 }, i));
    expect(await applyBatch(engine, notifier, store, flapping)).toEqual([]);
    expect(notifier.delivered).toHaveLength(16);
    // 16 transitions, at most MAX_RESOLUTIONS per write.
    expect(store.calls.putState).toBe(Math.ceil(16 / MAX_RESOLUTIONS));
    // Redelivered after a failure: every transition is still recognised, nothing is notified twice.
    notifier.delivered = [];
    expect(await applyBatch(engine, notifier, store, flapping)).toEqual([]);
    expect(notifier.delivered).toEqual([]);
  });

  it('remembers the last few resolves only', () => {
    let state: RuleState | undefined;
    for (let i = 0; i < 8; i++)
      for (const t of [90, 10]) {
        const d = decide(state, reading({ temperature: t }, i * 20 + (t === 10 ? 1 : 0)), hot, t);
        if (d.kind === 'update') state = d.next;
      }
    expect(state?.resolutions).toHaveLength(MAX_RESOLUTIONS);
    expect(state?.raises).toHaveLength(MAX_RESOLUTIONS);
    expect(state?.alert?.alertId).toBe(state?.resolutions[MAX_RESOLUTIONS - 1]?.alertId);
  });

  it('redelivered readings are not counted twice towards a window', async () => {
    const store = new MemoryStore();
    const notifier = new FakeNotifier();
    const engine = new AlertEngine([lowBattery], store);
    const first = [reading({ battery: 5 }), reading({ battery: 5 })];
    await applyBatch(engine, notifier, store, first);
    await applyBatch(engine, notifier, store, first); // redelivered: still two readings
    expect(store.states.get('dev-1#battery')?.consecutive).toBe(2);
    expect(notifier.delivered).toEqual([]);
    await applyBatch(engine, notifier, store, [reading({ battery: 5 })]);
    expect(notifier.delivered.map((m) => m.type)).toEqual(['alert.raised']);
  });

  it('a redelivery of readings that raised nothing costs no alert reads', async () => {
    const store = new MemoryStore();
    const engine = new AlertEngine([lowBattery], store);
    const first = [reading({ battery: 5 }), reading({ battery: 5 }), reading({ battery: 50 })];
    await applyBatch(engine, new FakeNotifier(), store, first);
    store.resetCalls();
    await applyBatch(engine, new FakeNotifier(), store, first);
    expect(store.calls).toMatchObject({ getStates: 1, putState: 0, getAlert: 0 });
  });

  it('the same reading twice in one batch counts once', async () => {
    const store = new MemoryStore();
    const engine = new AlertEngine([lowBattery], store);
    const r = reading({ battery: 5 });
    const again = { ...r, position: { ...r.position, sequenceNumber: `${r.position.sequenceNumber}9` } };
    await applyBatch(engine, new FakeNotifier(), store, [r, again, reading({ battery: 5 })]);
    expect(store.states.get('dev-1#battery')?.consecutive).toBe(2);
  });

  it('after a failed write, that device’s later readings in the batch fail too; other devices go on', async () => {
    const store = new MemoryStore();
    const notifier = new FakeNotifier();
    const engine = new AlertEngine([hot], store);
    const r1 = reading({ temperature: 85 });
    const r2 = reading({ temperature: 20 });
    const other = reading({ temperature: 85 }, 0, { deviceId: 'dev-2' });
    store.failDevice = 'dev-1';
    store.failNext.putState = 1;
    const failed = await applyBatch(engine, notifier, store, [r1, other, r2]);
    expect(failed).toEqual([r1.position.sequenceNumber, r2.position.sequenceNumber]);
    expect(notifier.delivered.map((m) => m.alert.deviceId)).toEqual(['dev-2']);
    expect(store.states.has('dev-1#hot')).toBe(false);
    // The retry applies them in order: raise, then resolve.
    expect(await applyBatch(engine, notifier, store, [r1, r2])).toEqual([]);
    expect(notifier.delivered.map((m) => `${m.alert.deviceId} ${m.type}`)).toEqual([
      'dev-2 alert.raised',
      'dev-1 alert.raised',
      'dev-1 alert.resolved',
    ]);
  });

  it('a failed state read fails the devices it was for, and only their records', async () => {
    const store = new MemoryStore();
    const notifier = new FakeNotifier();
    const engine = new AlertEngine([hot], store);
    store.failNext.getStates = 1;
    const readings = [reading({ temperature: 85 }), reading({ temperature: 85 }, 0, { deviceId: 'dev-2' })];
    expect(await applyBatch(engine, notifier, store, readings)).toEqual(readings.map((r) => r.position.sequenceNumber));
    expect(notifier.delivered).toEqual([]);
    expect(await applyBatch(engine, notifier, store, readings)).toEqual([]);
    expect(notifier.delivered).toHaveLength(2);
  });

  it('delivers a batch of owed messages in one call, each alert and type once', async () => {
    const store = new MemoryStore();
    const calls: AlertMessage[][] = [];
    const notifier: AlertNotifier = {
      deliver: async (messages) => {
        calls.push([...messages]);
        return { failed: [] };
      },
    };
    const engine = new AlertEngine([hot], store);
    const devices = Array.from({ length: 12 }, (_, i) => reading({ temperature: 99 }, 0, { deviceId: `d-${i}` }));
    expect(await applyBatch(engine, notifier, store, devices)).toEqual([]);
    expect(calls).toHaveLength(1);
    expect(calls[0]).toHaveLength(12);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Calls per batch against the minimum the design allows

const DEVICES = 100;
const device = (i: number) => `d-${String(i).padStart(3, '0')}`;
let scenarioSeq = 0;

/**
 * 100 devices, each reading carrying temperature and battery (two rules: 200 pairs), round-robin in stream order,
 * reading `k` of each device at T0 + k s. Mostly healthy; d-000..d-004 run hot from k = 4 on (raise, then open),
 * d-005/d-006 have a low battery from k = 6 on (window of 3: raise at k = 8), d-007 spikes once at k = 2 (raise,
 * resolve at k = 3), d-008 has a low battery at k = 1 and 2 only (a count, then a reset, never an alert).
 */
function fleet(fromK: number, toK: number): Reading[] {
  const readings: Reading[] = [];
  for (let k = fromK; k < toK; k++)
    for (let i = 0; i < DEVICES; i++) {
      const temperature = (i < 5 && k >= 4) || (i === 7 && k === 2) ? 85 + (k % 3) : 20 + ((i + k) % 5);
      const battery = ((i === 5 || i === 6) && k >= 6) || (i === 8 && (k === 1 || k === 2)) ? 5 : 80;
      scenarioSeq += 1;
      readings.push({
        eventId: `e-${device(i)}-${k}`,
        deviceId: device(i),
        occurredAt: new Date(T0 + k * 1000).toISOString(),
        metrics: { temperature, battery, humidity: 40 },
        position: { shardId: 'shardId-000000000000', sequenceNumber: `4960${String(scenarioSeq).padStart(20, '0')}` },
      });
    }
  return readings;
}

/** The real notifier adapters over clients that count their calls (every call succeeds). */
function countingNotifier() {
  const calls = { queue: 0, publish: 0 };
  const notifier = new AlertFanOut(
    new SqsAlertQueue(
      {
        send: async () => {
          calls.queue++;
          return { Failed: [] };
        },
      } as never,
      'url',
    ),
    new IotAlertPublisher({
      send: async () => {
        calls.publish++;
        return {};
      },
    } as never),
  );
  return { calls, notifier };
}

/** What the engine asked of its ports (one port call is one AWS call in the adapters), in `AlertCalls` terms. */
function portCalls(store: MemoryStore, notified: { queue: number; publish: number }) {
  const c = store.calls;
  const calls = {
    stateReads: c.getStates,
    stateWrites: c.putState,
    alertWrites: c.createAlert + c.resolveAlert,
    marks: c.markNotified,
    queueCalls: notified.queue,
    publishes: notified.publish,
  };
  return { ...calls, total: Object.values(calls).reduce((a, b) => a + b, 0), beyond: c.getState + c.getAlert };
}

const minimum = (shapes: AlertBatchShape[]) => {
  const { byCommand: _, ...m } = minimumAlertCalls(shapes);
  return { ...m, beyond: 0 };
};

describe('calls per batch: the minimum the design allows', () => {
  const rules = [hot, lowBattery];
  // By hand, from the scenario: one batch of all 1,000 readings (k = 0..9), then the next 1,000 (k = 10..19).
  const firstThousand: AlertBatchShape = {
    pairs: 200,
    stateWrites: 9,
    alertsCreated: 7,
    alertsResolved: 1,
    messages: 9,
  };
  const secondThousand: AlertBatchShape = {
    pairs: 200,
    stateWrites: 7,
    alertsCreated: 0,
    alertsResolved: 0,
    messages: 0,
  };
  // Ten batches of 100 (the topology's batch size for alerts): batch k holds reading k of every device.
  const writesPerBatch = [0, 1, 2, 2, 5, 5, 7, 7, 7, 7];
  const created: Record<number, number> = { 2: 1, 4: 5, 8: 2 };
  const messages: Record<number, number> = { 2: 1, 3: 1, 4: 5, 8: 2 };
  const tenBatches: AlertBatchShape[] = writesPerBatch.map((stateWrites, k) => ({
    pairs: 200,
    stateWrites,
    alertsCreated: created[k] ?? 0,
    alertsResolved: k === 3 ? 1 : 0,
    messages: messages[k] ?? 0,
  }));

  it('minimumAlertCalls: ceil(pairs/100) reads, a write per changed pair and per alert item, ceil(messages/10) queue calls, a publish per message, a mark per alert', () => {
    expect(minimumAlertCalls(firstThousand)).toEqual({
      stateReads: 2,
      stateWrites: 9,
      alertWrites: 8,
      marks: 8,
      queueCalls: 1,
      publishes: 9,
      total: 37,
      byCommand: {
        'DynamoDBClient.BatchGetItemCommand': 2,
        'DynamoDBClient.UpdateItemCommand': 9 + 1 + 8,
        'DynamoDBClient.PutItemCommand': 7,
        'SQSClient.SendMessageBatchCommand': 1,
        'IoTDataPlaneClient.PublishCommand': 9,
      },
    });
    expect(minimumAlertCalls(secondThousand).byCommand).toEqual({
      'DynamoDBClient.BatchGetItemCommand': 2,
      'DynamoDBClient.UpdateItemCommand': 7,
    });
    expect(
      minimumAlertCalls({ pairs: 201, stateWrites: 0, alertsCreated: 0, alertsResolved: 0, messages: 11 }),
    ).toMatchObject({ stateReads: 3, queueCalls: 2, publishes: 11 });
    // Per 1,000 readings in batches of 100: 94 calls, where reading each state per reading and rule took 2,000 reads.
    expect(minimumAlertCalls(tenBatches).total).toBe(94);
  });

  it('alertBatchShape (for the benchmark) derives the same shapes from the readings', () => {
    scenarioSeq = 0;
    const first = alertBatchShape(rules, fleet(0, 10));
    expect(first.shape).toEqual(firstThousand);
    expect(alertBatchShape(rules, fleet(10, 20), first.states).shape).toEqual(secondThousand);
    let states = new Map<string, RuleState>();
    const shapes = Array.from({ length: 10 }, (_, k) => {
      const next = alertBatchShape(rules, fleet(k, k + 1), states);
      states = next.states;
      return next.shape;
    });
    expect(shapes).toEqual(tenBatches);
  });

  it('1,000 readings of 100 devices in one batch, then the next 1,000 in a cold container: exactly the minimum', async () => {
    const store = new MemoryStore();
    const first = countingNotifier();
    const batch = new AlertBatch(new AlertEngine(rules, store), first.notifier, store);
    for (const r of fleet(0, 10)) batch.add(r.position.sequenceNumber, r);
    const result = await batch.run();
    expect(result.failedRecordIds).toEqual([]);
    expect(result.delivered.map((m) => `${m.alert.deviceId} ${m.alert.ruleId} ${m.type}`)).toEqual([
      'd-007 hot alert.raised',
      'd-007 hot alert.resolved',
      ...[0, 1, 2, 3, 4].map((i) => `${device(i)} hot alert.raised`),
      'd-005 battery alert.raised',
      'd-006 battery alert.raised',
    ]);
    expect(portCalls(store, first.calls)).toEqual(minimum([firstThousand]));

    // A new container (nothing carried over: a new engine), same table.
    store.resetCalls();
    const second = countingNotifier();
    const cold = new AlertBatch(new AlertEngine(rules, store), second.notifier, store);
    for (const r of fleet(10, 20)) cold.add(r.position.sequenceNumber, r);
    expect((await cold.run()).failedRecordIds).toEqual([]);
    expect(portCalls(store, second.calls)).toEqual(minimum([secondThousand]));
  });

  it('the same 1,000 readings in ten batches of 100: the minimum per batch, 94 calls in all', async () => {
    const store = new MemoryStore();
    const engine = new AlertEngine(rules, store);
    const { calls, notifier } = countingNotifier();
    for (let k = 0; k < 10; k++) {
      const batch = new AlertBatch(engine, notifier, store);
      for (const r of fleet(k, k + 1)) batch.add(r.position.sequenceNumber, r);
      expect((await batch.run()).failedRecordIds).toEqual([]);
    }
    const made = portCalls(store, calls);
    expect(made).toEqual(minimum(tenBatches));
    expect(made.total).toBeLessThanOrEqual(1.1 * minimumAlertCalls(tenBatches).total);
    expect(store.alerts.size).toBe(8);
  });

  it('a lost race (one device also on a second shard) costs a re-read and a rewrite: within 1.1x, one alert', async () => {
    const store = new MemoryStore();
    const readings = fleet(0, 10);
    // d-000's hot readings also arrive on a second shard, in a concurrent batch of another container.
    const elsewhere = readings
      .filter((r) => r.deviceId === 'd-000' && (r.metrics.temperature ?? 0) > 80)
      .map((r) => ({ ...r, eventId: `${r.eventId}-b`, position: { ...r.position, shardId: 'shardId-000000000001' } }));
    const a = countingNotifier();
    const b = countingNotifier();
    const batchA = new AlertBatch(new AlertEngine(rules, store), a.notifier, store);
    const batchB = new AlertBatch(new AlertEngine(rules, store), b.notifier, store);
    for (const r of readings) batchA.add(r.position.sequenceNumber, r);
    for (const r of elsewhere) batchB.add(r.position.sequenceNumber, r);
    // B reads, then A runs all the way before B writes: B's write loses and B re-reads and re-decides.
    let resultA: Awaited<ReturnType<AlertBatch['run']>> | undefined;
    store.beforePut = async () => {
      resultA = await batchA.run();
    };
    const resultB = await batchB.run();
    expect([...(resultA?.failedRecordIds ?? ['A did not run']), ...resultB.failedRecordIds]).toEqual([]);
    expect(resultB.delivered).toEqual([]);
    expect(resultA?.delivered.filter((m) => m.type === 'alert.raised')).toHaveLength(8);
    expect(store.alerts.size).toBe(8);
    expect(store.states.get('d-000#hot')).toMatchObject({ consecutive: 12, open: true });
    const made = portCalls(store, { queue: a.calls.queue + b.calls.queue, publish: a.calls.publish + b.calls.publish });
    expect(made.beyond).toBe(1); // the re-read
    expect(store.calls.putState).toBe(9 + 2); // A's nine, B's lost write and its rewrite
    const min = minimumAlertCalls([
      firstThousand,
      { pairs: 2, stateWrites: 1, alertsCreated: 0, alertsResolved: 0, messages: 0 },
    ]);
    expect(made.total + made.beyond).toBe(min.total + 2);
    expect(made.total + made.beyond).toBeLessThanOrEqual(1.1 * min.total);
  });
});

describe('AlertEngine with a state cache (states kept between batches while the container holds the shard)', () => {
  let position = 0;
  const onShard = (shardId: string, metrics: Record<string, number>, minutes: number) => {
    position += 1;
    return reading(metrics, minutes, { position: { shardId, sequenceNumber: String(position) } });
  };

  it('reads a pair once, then serves it from the cache: one claim write per batch, no state read', async () => {
    const store = new MemoryStore();
    const notifier = new FakeNotifier();
    const engine = new AlertEngine([hot, lowBattery], store, 5, new AlertStateCache('container-a'));
    await applyBatch(engine, notifier, store, [onShard('s1', { temperature: 20, battery: 50 }, 0)]);
    expect(store.calls).toMatchObject({ claimShard: 1, getStates: 1 });
    store.resetCalls();
    for (let i = 1; i <= 3; i++)
      await applyBatch(engine, notifier, store, [onShard('s1', { temperature: 20, battery: 50 }, i)]);
    expect(store.calls).toMatchObject({ claimShard: 3, getStates: 0, getState: 0, putState: 0 });
    // A breach and a raise are written as before, and the next batch judges against what was written.
    await applyBatch(engine, notifier, store, [onShard('s1', { temperature: 90 }, 5)]);
    await applyBatch(engine, notifier, store, [onShard('s1', { temperature: 20 }, 6)]);
    expect(notifier.delivered.map((m) => m.type)).toEqual(['alert.raised', 'alert.resolved']);
    expect(store.calls.getStates).toBe(0);
  });

  it('drops the shard’s states when another container applied a batch of it meanwhile, and decides right', async () => {
    const store = new MemoryStore();
    const notifier = new FakeNotifier();
    const a = new AlertEngine([lowBattery], store, 5, new AlertStateCache('container-a'));
    const b = new AlertEngine([lowBattery], store, 5, new AlertStateCache('container-b'));
    // a sees the device healthy; b then applies two low readings (consecutive 2); a gets the third.
    await applyBatch(a, notifier, store, [onShard('s1', { battery: 50 }, 0)]);
    await applyBatch(b, notifier, store, [onShard('s1', { battery: 5 }, 1), onShard('s1', { battery: 5 }, 2)]);
    store.resetCalls();
    await applyBatch(a, notifier, store, [onShard('s1', { battery: 5 }, 3)]);
    // a re-read (its claim found b's) and raised on the third reading in a row, as the rule says.
    expect(store.calls.getStates).toBe(1);
    expect(notifier.delivered.map((m) => m.type)).toEqual(['alert.raised']);
    expect(store.states.get('dev-1#battery')).toMatchObject({ consecutive: 3, open: true });
  });

  it('a failed batch leaves nothing cached for its shard, and a failed claim applies nothing', async () => {
    const store = new MemoryStore();
    const notifier = new FakeNotifier();
    const cache = new AlertStateCache('container-a');
    const engine = new AlertEngine([hot], store, 5, cache);
    await applyBatch(engine, notifier, store, [onShard('s1', { temperature: 20 }, 0)]);
    expect(cache.entries).toBe(1);
    store.failNext.putState = 1;
    expect(await applyBatch(engine, notifier, store, [onShard('s1', { temperature: 90 }, 1)])).toHaveLength(1);
    expect(cache.entries).toBe(0);
    store.failNext.claimShard = 1;
    store.resetCalls();
    const r = onShard('s1', { temperature: 90 }, 2);
    expect(await applyBatch(engine, notifier, store, [r])).toEqual([r.position.sequenceNumber]);
    expect(store.calls).toMatchObject({ getStates: 0, putState: 0 });
    // Retried, it raises once.
    expect(await applyBatch(engine, notifier, store, [r])).toEqual([]);
    expect(notifier.delivered.filter((m) => m.type === 'alert.raised')).toHaveLength(1);
  });

  it('stays bounded: past its size the oldest shard’s states go', () => {
    const cache = new AlertStateCache('c', 3);
    cache.set('s1', 'a', undefined);
    cache.set('s1', 'b', undefined);
    cache.set('s2', 'c', undefined);
    cache.set('s2', 'd', undefined);
    expect(cache.entries).toBe(2);
    expect(cache.shard('s1').size).toBe(0);
  });
});

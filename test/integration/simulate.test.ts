import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ArchiveReader } from '../../scripts/lib/archive-reader';
import { HttpClient, StackReader } from '../../scripts/simulate/api';
import { readBack, readingFingerprint, storedReadingFingerprint } from '../../scripts/simulate/readback';
import { eventsReconciled, reconcileEvents, type SentEvent } from '../../scripts/simulate/reconcile';
import { isArchivedOnly } from '../../shared/domain/storage-policy';
import { TELEMETRY_EVENT_TYPE } from '../../shared/domain/telemetry';
import { devKey, principalStore, stack, storedBySource } from './support';
import { type CliRun, tem } from './tem-cli';

/**
 * `tem simulate` end to end against the stack under test: 50 devices, each its own MQTT connection and credential,
 * 50 readings/s for 5 s with anomalies; the run reconciles what the broker acknowledged against what the stack
 * stored and the alerts the devices received, and exits 0 only if nothing was lost or duplicated.
 */
const prefix = `simt-${Date.now().toString(36)}${randomBytes(2).toString('hex')}-`;
const dir = mkdtempSync(path.join(tmpdir(), 'tem-sim-'));
const fleetFile = path.join(dir, 'fleet.json');
let run: CliRun | undefined;

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  const store = principalStore();
  const ids = await store.listDeviceIds(prefix);
  if (ids.length > 0) await store.deleteDevicesBatch(ids);
});

interface Reconciliation {
  sent: number;
  acked: number;
  stored: number;
  missing: number;
  duplicates: number;
  unexpected: number;
}

describe('tem simulate', { timeout: 90_000 }, () => {
  it('50 devices at 50 readings/s for 5 s with 10 % anomalies: nothing lost, every expected alert once', async () => {
    run = await tem(
      [
        'simulate',
        ...['--devices', '50', '--rate', '50', '--duration', '5', '--anomalies', '10'],
        ...['--prefix', prefix, '--fleet-file', fleetFile, '--settle', '30'],
      ],
      80_000,
    );
    const summary = run.out as {
      ok: boolean;
      connect: { connected: number; failed: number };
      mqtt: { sent: number; acked: number; anomalies: Record<string, number> };
      reconcile: {
        readings: Reconciliation;
        alerts: { expected: number; received: number; missing: number; duplicates: number; unexpected: number };
      };
      latencyMs: { readingToAlert: { n: number } | null };
      machine: { cpus: number };
    };
    expect(run.code, `${run.stderr}\n${JSON.stringify(summary)}`).toBe(0);
    expect(summary.ok).toBe(true);
    expect(summary.connect).toMatchObject({ connected: 50, failed: 0 });
    expect(summary.mqtt.sent).toBe(250);
    expect(summary.mqtt.acked).toBe(250);
    expect(summary.reconcile.readings).toMatchObject({
      sent: 250,
      acked: 250,
      stored: 250,
      missing: 0,
      duplicates: 0,
      unexpected: 0,
    });
    // Anomalies were sent, so alerts were expected (a raise and its resolve), and each arrived exactly once.
    expect(Object.values(summary.mqtt.anomalies).reduce((a, b) => a + b, 0)).toBeGreaterThan(0);
    const { alerts } = summary.reconcile;
    expect(alerts.expected).toBeGreaterThan(0);
    expect(alerts).toMatchObject({ received: alerts.expected, missing: 0, duplicates: 0, unexpected: 0 });
    expect(summary.latencyMs.readingToAlert?.n).toBe(alerts.expected);
    expect(summary.machine.cpus).toBeGreaterThan(0);
    // The progress line came once a second on stderr; stdout held only the summary.
    expect(run.stderr).toMatch(/\[simulate 00:0\d\] conn 50\/50 \| sent \d+\/s/);
    expect(run.stdout.trim().split('\n')).toHaveLength(1);
    expect(statSync(fleetFile).mode & 0o777).toBe(0o600);
  });

  it('the reconciliation reports a loss: an acknowledged id the stack never stored', async () => {
    expect(run?.code).toBe(0);
    const reader = new StackReader(new HttpClient(stack().http, 2), devKey());
    const deviceId = `${prefix}00000`;
    // Through the API, or the raw archive when the storage policy keeps readings there only (ADR 0018).
    const archive = isArchivedOnly(TELEMETRY_EVENT_TYPE) ? ArchiveReader.of(stack()) : undefined;
    const stored = await storedBySource(deviceId);
    expect(stored.length).toBe(5);
    // What the run sent for this device, as the stack stored it, plus one reading it never sent.
    const sent: SentEvent[] = stored.map((item) => ({
      id: String(item.id),
      source: deviceId,
      acked: true,
      fingerprint: storedReadingFingerprint(item),
    }));
    const phantom: SentEvent = {
      id: '00000000-0000-8000-8000-000000000000',
      source: deviceId,
      acked: true,
      fingerprint: readingFingerprint(Date.now(), 999),
    };
    const readback = await readBack(
      reader,
      [
        {
          source: deviceId,
          acked: new Set([...sent, phantom].map((e) => e.id)),
          fingerprint: storedReadingFingerprint,
          ...(archive ? { archived: true } : {}),
        },
      ],
      { concurrency: 1, deadline: performance.now() + 2_500, ...(archive ? { archive } : {}) },
    );
    archive?.close();
    expect(readback.incomplete).toBe(1);
    const result = reconcileEvents([...sent, phantom], readback.stored.get(deviceId) ?? []);
    expect(result).toMatchObject({ acked: 6, stored: 5, missing: 1, duplicates: 0, unexpected: 0 });
    expect(result.firstMissing).toEqual([{ id: phantom.id, source: deviceId }]);
    expect(eventsReconciled(result)).toBe(false);
  });
});

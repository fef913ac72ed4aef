import { afterAll, describe, expect, it } from 'vitest';
import { ArchiveReader } from '../../scripts/lib/archive-reader';
import type { ArchivedEvent } from '../../shared/domain/archive-records';
import { isArchived, isTabled } from '../../shared/domain/storage-policy';
import { api, control, eventually, isEmbedded, newDevice, publishMqtt, stack, storedBySource } from './support';

/**
 * The raw archive (ADR 0018), read back the way Athena reads it: the bucket's gzipped JSON-line objects, found from
 * the stack's state file. policies/storage.json decides which types go there; these tests follow what it says.
 */
const reader = ArchiveReader.of(stack());
const archived: ArchivedEvent[] = [];
const since = new Date(Date.now() - 60_000);
afterAll(() => reader.close());

/** Every archived copy of the events of `source` seen so far (polling the bucket for new objects). */
async function archivedOf(source: string): Promise<ArchivedEvent[]> {
  archived.push(...(await reader.readNew(since, new Date())));
  return archived.filter((e) => e.source === source);
}

/** Waits until `source` has `count` archived events, then a little longer, so a duplicate would show. */
async function archivedOnce(source: string, count = 1, timeoutMs = 20_000): Promise<ArchivedEvent[]> {
  await eventually(
    async () => ((await archivedOf(source)).length >= count ? true : undefined),
    timeoutMs,
    `${count} archived event(s) of ${source}`,
  );
  await new Promise((r) => setTimeout(r, 2500));
  return archivedOf(source);
}

const reading = (seq: number) => ({ ts: Date.now(), seq, metrics: { temperature: 20 + seq, humidity: 40 } });

describe.runIf(isArchived('device.telemetry'))('the raw archive: device readings', () => {
  it('a reading over MQTT is archived once, as the event the table holds', async () => {
    const device = await newDevice('arc');
    await publishMqtt(device, `devices/${device.deviceId}/telemetry`, reading(1));
    const copies = await archivedOnce(device.deviceId);
    expect(copies).toHaveLength(1);
    const [event] = copies;
    expect(event).toMatchObject({
      type: 'device.telemetry',
      source: device.deviceId,
      principalId: `device:${device.deviceId}`,
      data: { seq: 1, metrics: { temperature: 21, humidity: 40 } },
    });
    // Archived by the store consumer after the topic rule received it, and not long after.
    const archivedAt = Date.parse(String(event?.archivedAt));
    expect(archivedAt).toBeGreaterThanOrEqual(Date.parse(String(event?.receivedAt)));
    expect(archivedAt).toBeLessThanOrEqual(Date.now());
    if (isTabled('device.telemetry')) {
      const [item] = await eventually(async () => {
        const items = await storedBySource(device.deviceId);
        return items.length > 0 ? items : undefined;
      });
      expect(item?.id).toBe(event?.id);
      expect(item?.data).toEqual(event?.data);
    }
  });

  it('a business event is not archived (its type is kept in the table only)', async () => {
    expect(isArchived('order.created')).toBe(false);
    const source = `arc-svc-${crypto.randomUUID().slice(0, 8)}`;
    const answer = await api('POST', '/events', { body: { type: 'order.created', source, data: { n: 1 } } });
    expect(answer.status).toBe(202);
    // A reading published after it is archived: by then the store consumer has handled the business event too.
    const device = await newDevice('arc');
    await publishMqtt(device, `devices/${device.deviceId}/telemetry`, reading(2));
    await archivedOnce(device.deviceId);
    await eventually(async () => ((await storedBySource(source)).length === 1 ? true : undefined));
    expect(await archivedOf(source)).toEqual([]);
  });
});

describe.runIf(isEmbedded() && isArchived('device.telemetry'))('the raw archive: outages', () => {
  it('a Firehose outage delays archiving; the reading is archived once after it', async () => {
    const device = await newDevice('arc-fh');
    await control('/engines/firehose/stop');
    try {
      await publishMqtt(device, `devices/${device.deviceId}/telemetry`, reading(3));
      await new Promise((r) => setTimeout(r, 3000));
      expect(await archivedOf(device.deviceId)).toEqual([]);
    } finally {
      await control('/engines/firehose/start');
    }
    expect(await archivedOnce(device.deviceId, 1, 60_000)).toHaveLength(1);
  });

  it('an S3 outage: Firehose keeps what it accepted and delivers it once S3 is back', async () => {
    const device = await newDevice('arc-s3');
    await control('/engines/s3/stop');
    try {
      await publishMqtt(device, `devices/${device.deviceId}/telemetry`, reading(4));
      await new Promise((r) => setTimeout(r, 3000));
    } finally {
      await control('/engines/s3/start');
    }
    expect(await archivedOnce(device.deviceId, 1, 60_000)).toHaveLength(1);
  });
});

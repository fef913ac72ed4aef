import { dedupeReadings, orderKey, type Reading } from './readings';

/**
 * The device registry's side of a batch, pure: one sighting per device (first seen, last seen, last reading) and which
 * of its two conditional writes are still needed given what a writer knows. `applyReadings` (`writes.ts`) sends them.
 */

export interface DeviceSighting {
  deviceId: string;
  /** Earliest reading time in the batch. */
  firstSeen: string;
  /** Latest reading time in the batch, and that reading. */
  lastSeen: string;
  lastReading: { metrics: Record<string, number>; at: string };
  /** `orderKey` of the latest reading: the registry keeps the reading with the highest one. */
  lastKey: string;
  eventIds: string[];
}

export function summarizeDevices(readings: readonly Reading[]): DeviceSighting[] {
  const byDevice = new Map<string, DeviceSighting>();
  for (const reading of dedupeReadings(readings)) {
    const key = orderKey(reading);
    const seen = byDevice.get(reading.deviceId);
    if (!seen) {
      byDevice.set(reading.deviceId, {
        deviceId: reading.deviceId,
        firstSeen: reading.at,
        lastSeen: reading.at,
        lastReading: { metrics: reading.metrics, at: reading.at },
        lastKey: key,
        eventIds: [reading.eventId],
      });
      continue;
    }
    seen.eventIds.push(reading.eventId);
    if (reading.at < seen.firstSeen) seen.firstSeen = reading.at;
    if (key > seen.lastKey) {
      seen.lastSeen = reading.at;
      seen.lastReading = { metrics: reading.metrics, at: reading.at };
      seen.lastKey = key;
    }
  }
  return [...byDevice.values()];
}

/**
 * What a registry writer knows of a device's entry. Both only ever move one way (first seen earlier, last key later),
 * so what was once true stays true: a write that could not change anything is not sent.
 */
export interface KnownSighting {
  /** The stored first seen is at most this. */
  firstSeen?: string;
  /** The stored last key is at least this. */
  lastKey?: string;
}

/** Which of the two registry writes a sighting may still need, given what is known. */
export function planSighting(
  known: KnownSighting | undefined,
  s: DeviceSighting,
): { newer: boolean; earlierFirst: boolean } {
  return {
    newer: known?.lastKey === undefined || known.lastKey < s.lastKey,
    earlierFirst: known?.firstSeen === undefined || known.firstSeen > s.firstSeen,
  };
}

/** Records a sighting: first seen only ever moves earlier, last seen and last reading only later. */
export interface DeviceRegistryWriter {
  recordSighting(sighting: DeviceSighting): Promise<void>;
}

import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { connectDevice, principalStore } from './support';
import { tem } from './tem-cli';

/**
 * `tem devices register --prefix --count` and `tem devices delete --prefix` against the stack under test: 1,000
 * devices in seconds, their tokens in a 0600 file, usable for MQTT at once, and gone after the delete.
 */
const prefix = `fleet-${Date.now().toString(36)}${randomBytes(2).toString('hex')}-`;
const dir = mkdtempSync(path.join(tmpdir(), 'tem-fleet-'));
const file = path.join(dir, 'fleet.json');

afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface FleetFile {
  prefix: string;
  http: string;
  devices: { deviceId: string; token: string }[];
}

describe('tem devices register --prefix --count / delete --prefix', () => {
  it('registers 1,000 devices in seconds; tokens only in the 0600 file; the devices connect', async () => {
    const run = await tem(['devices', 'register', '--prefix', prefix, '--count', '1000', '--out', file]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.out).toMatchObject({ prefix, count: 1000, file });
    expect(run.stdout).not.toContain('temd_');
    // Seconds, not minutes: 80 BatchWriteItem calls (the process start is most of it).
    expect(run.seconds).toBeLessThan(30);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const fleet = JSON.parse(readFileSync(file, 'utf8')) as FleetFile;
    expect(fleet.prefix).toBe(prefix);
    expect(fleet.devices).toHaveLength(1000);
    expect(new Set(fleet.devices.map((d) => d.token)).size).toBe(1000);
    expect(fleet.devices[0]?.deviceId).toBe(`${prefix}00000`);
    expect(fleet.devices[999]?.deviceId).toBe(`${prefix}00999`);
    expect((await principalStore().listDeviceIds(prefix)).length).toBe(1000);
    for (const device of [fleet.devices[0], fleet.devices[999]] as FleetFile['devices']) {
      const client = await connectDevice(device);
      expect(client.connected).toBe(true);
      await client.endAsync();
    }
  });

  it('deletes them by prefix: every CONNECT is refused afterwards', async () => {
    const fleet = JSON.parse(readFileSync(file, 'utf8')) as FleetFile;
    const run = await tem(['devices', 'delete', '--prefix', prefix]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.out).toMatchObject({ prefix, deleted: 1000 });
    expect(await principalStore().listDeviceIds(prefix)).toEqual([]);
    await expect(connectDevice(fleet.devices[5] as FleetFile['devices'][number])).rejects.toThrow(
      /Bad username or password|Not authorized/,
    );
  });

  it('refuses a bad prefix or count as a usage error', async () => {
    expect((await tem(['devices', 'register', '--prefix', prefix, '--count', '20001'])).code).toBe(2);
    expect((await tem(['devices', 'register', '--prefix', prefix])).code).toBe(2);
    expect((await tem(['devices', 'delete'])).code).toBe(2);
    const bad = await tem(['devices', 'register', '--prefix', 'a/b', '--count', '1']);
    expect(bad.code).toBe(1);
    expect(bad.out.kind).toBe('invalid');
  });
});

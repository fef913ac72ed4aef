import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsCallCounts, callCounter, resetAwsCallCounts } from '../../shared/aws/call-counter';
import { DynamoPrincipalStore } from '../../shared/aws/dynamo-principal-store';
import { deviceTokenMatches } from '../../shared/domain/credentials';
import {
  deleteFleet,
  type FleetCredential,
  fleetDeviceIds,
  MAX_FLEET_SIZE,
  planFleet,
  registerFleet,
} from '../../shared/domain/device-fleet';
import { Rejection } from '../../shared/domain/errors';
import { authenticateDevice } from '../../shared/domain/principals';

const NOW = new Date('2026-12-01T10:00:00.000Z');

describe('fleet plans', () => {
  it('ids are the prefix and a fixed-width index, so a smaller fleet is the start of a larger one', () => {
    expect(fleetDeviceIds('sim-', 3)).toEqual(['sim-00000', 'sim-00001', 'sim-00002']);
    expect(fleetDeviceIds('sim-', MAX_FLEET_SIZE).at(-1)).toBe('sim-19999');
    expect(fleetDeviceIds('sim-', 1000).slice(0, 3)).toEqual(fleetDeviceIds('sim-', 3));
  });

  it('refuses a bad prefix or count', () => {
    for (const [prefix, count] of [
      ['', 1],
      ['a b', 1],
      ['sim/', 1],
      ['sim-', 0],
      ['sim-', MAX_FLEET_SIZE + 1],
      ['sim-', 1.5],
    ] as const)
      expect(() => fleetDeviceIds(prefix, count), `${prefix} ${count}`).toThrow(Rejection);
  });

  it('each device gets its own token; only its hash is in the items, which are those registerDevice writes', () => {
    const { registrations, credentials } = planFleet('sim-', 50, NOW);
    expect(new Set(credentials.map((c) => c.token)).size).toBe(50);
    registrations.forEach(({ principal, device }, i) => {
      const credential = credentials[i] as FleetCredential;
      expect(device).toEqual({
        deviceId: credential.deviceId,
        principalId: `device:${credential.deviceId}`,
        tokenHash: expect.stringMatching(/^[0-9a-f]{64}$/),
        status: 'active',
        createdAt: NOW.toISOString(),
      });
      expect(principal).toEqual({
        principalId: `device:${credential.deviceId}`,
        name: credential.deviceId,
        role: 'device',
        extra: [],
        revoked: [],
        createdAt: NOW.toISOString(),
      });
      expect(deviceTokenMatches(credential.token, device.tokenHash)).toBe(true);
      expect(JSON.stringify(registrations)).not.toContain(credential.token);
    });
  });
});

type Dynalite = (options: { createTableMs: number; deleteTableMs: number; updateTableMs: number }) => Server;
const dynalite = createRequire(import.meta.url)('dynalite') as Dynalite;
let server: Server;
let store: DynamoPrincipalStore;

beforeAll(async () => {
  server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const raw = new DynamoDBClient({
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    region: 'eu-west-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  raw.middlewareStack.use(callCounter());
  await raw.send(
    new CreateTableCommand({
      TableName: 'principals',
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
    }),
  );
  store = new DynamoPrincipalStore(
    DynamoDBDocumentClient.from(raw, { marshallOptions: { removeUndefinedValues: true } }),
    'principals',
  );
});

afterAll(async () => {
  await new Promise((resolve) => server?.close(resolve));
});

const batchWrites = () =>
  Object.entries(awsCallCounts())
    .filter(([k]) => k.includes('BatchWrite'))
    .reduce((n, [, v]) => n + v, 0);

describe('fleets in the principals table (dynalite)', { timeout: 60_000 }, () => {
  it('registers 60 devices in ceil(120 items / 25) BatchWriteItem calls; every token authenticates', async () => {
    resetAwsCallCounts();
    const fleet = await registerFleet(store, 'fa-', 60, NOW);
    expect(batchWrites()).toBe(Math.ceil(120 / 25));
    expect(fleet.devices).toHaveLength(60);
    for (const { deviceId, token } of [fleet.devices[0], fleet.devices[59]] as FleetCredential[]) {
      const result = await authenticateDevice(deviceId, token, store);
      expect(result.ok, deviceId).toBe(true);
      expect(await authenticateDevice(deviceId, `${token.slice(0, -1)}x`, store)).toMatchObject({ ok: false });
    }
  });

  it('registering again replaces the tokens of the same ids', async () => {
    const first = await registerFleet(store, 'fb-', 3, NOW);
    const second = await registerFleet(store, 'fb-', 3, NOW);
    expect(second.devices.map((d) => d.deviceId)).toEqual(first.devices.map((d) => d.deviceId));
    const [old, fresh] = [first.devices[1], second.devices[1]] as [FleetCredential, FleetCredential];
    expect((await authenticateDevice(old.deviceId, old.token, store)).ok).toBe(false);
    expect((await authenticateDevice(fresh.deviceId, fresh.token, store)).ok).toBe(true);
  });

  it('lists and deletes by prefix only: credential and principal go, other fleets stay', async () => {
    await registerFleet(store, 'fc-', 30, NOW);
    await registerFleet(store, 'fd-', 2, NOW);
    expect(await store.listDeviceIds('fc-')).toEqual(fleetDeviceIds('fc-', 30));
    const epoch = await store.getAuthEpoch();
    expect(await deleteFleet(store, 'fc-')).toEqual({ prefix: 'fc-', deleted: 30, epoch: epoch + 1 });
    expect(await store.listDeviceIds('fc-')).toEqual([]);
    expect(await store.getDevice('fc-00007')).toBeUndefined();
    expect(await store.getPrincipal('device:fc-00007')).toBeUndefined();
    expect(await store.listDeviceIds('fd-')).toHaveLength(2);
    expect(await deleteFleet(store, 'none-')).toMatchObject({ deleted: 0 });
  });
});

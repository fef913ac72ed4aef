import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { DeleteMessageCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import mqtt from 'mqtt';
import { inject } from 'vitest';
import type { LocalStackInfo } from '../../infra/local/stack';
import { ArchiveReader } from '../../scripts/lib/archive-reader';
import { DynamoPrincipalStore } from '../../shared/aws/dynamo-principal-store';
import { registerDevice } from '../../shared/domain/admin';
import { type EventEnvelope, ownedEventId } from '../../shared/domain/events';
import { isArchivedOnly } from '../../shared/domain/storage-policy';
import { TELEMETRY_EVENT_TYPE } from '../../shared/domain/telemetry';

export const stack = () => inject('stack');

/** Tests that need the embedded stack's control port (stats, fault injection) run only against it. */
export const isEmbedded = () => stack().target === 'embedded';
/** Every emulator process of an embedded stack: one per service, and DynamoDB's engines of one table each. */
export const enginePids = (info: LocalStackInfo) =>
  [...Object.values(info.engines), ...Object.values(info.tableEngines ?? {})].map((e) => e.pid);
export function local(): LocalStackInfo {
  const info = stack();
  if (info.target !== 'embedded') throw new Error('this test needs the embedded local stack');
  return info as LocalStackInfo;
}

const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };

/** SDK clients aimed at the stack's emulators, found from its state file, never hard-coded. */
export function awsClients() {
  const info = stack();
  // Emulators take any credentials; a deployed stack (LocalStack, AWS) uses the default provider chain.
  const common = { region: info.region, ...(info.target === 'embedded' ? { credentials } : {}) };
  return {
    kinesis: new KinesisClient({
      ...common,
      endpoint: info.endpoints.kinesis as string,
      requestHandler: new NodeHttpHandler(),
    }),
    dynamo: DynamoDBDocumentClient.from(new DynamoDBClient({ ...common, endpoint: info.endpoints.dynamodb as string })),
    sqs: new SQSClient({ ...common, endpoint: info.endpoints.sqs as string }),
  };
}

export function devKey(): string {
  const key = stack().devApiKey;
  if (!key) throw new Error('the stack state has no devApiKey (tem state --api-key KEY)');
  return key;
}

export interface ApiResponse {
  status: number;
  body: unknown;
  text: string;
  headers: Headers;
}

export async function api(
  method: string,
  path: string,
  options: { key?: string | null; body?: unknown; rawBody?: string; contentType?: string } = {},
): Promise<ApiResponse> {
  const headers: Record<string, string> = {};
  const key = options.key === undefined ? devKey() : options.key;
  if (key !== null) headers['X-API-Key'] = key;
  let body: string | undefined;
  if (options.rawBody !== undefined) body = options.rawBody;
  else if (options.body !== undefined) body = JSON.stringify(options.body);
  if (body !== undefined) headers['content-type'] = options.contentType ?? 'application/json';
  const response = await fetch(`${stack().http}${path}`, { method, headers, body });
  const text = await response.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: response.status, body: parsed, text, headers: response.headers };
}

/** Polls until `probe` returns a value (not undefined) or the time is up. */
export async function eventually<T>(
  probe: () => Promise<T | undefined>,
  timeoutMs = 15_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await new Promise((r) => setTimeout(r, 150));
  }
  throw new Error(`timed out waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ''}`);
}

/** The principals table of the stack under test, through the same adapter the functions use. */
export function principalStore(): DynamoPrincipalStore {
  return new DynamoPrincipalStore(awsClients().dynamo, stack().resources.principalsTable);
}

export interface Device {
  deviceId: string;
  token: string;
}

/** Registers a device the way `tem devices register` does (same domain code, real table). */
export async function newDevice(prefix = 'dev'): Promise<Device> {
  const deviceId = `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
  const { token } = await registerDevice(principalStore(), deviceId);
  return { deviceId, token };
}

/** An MQTT connection as a device: username = device id, password = device token, client id = device id. */
export function connectDevice(device: Device, overrides: Partial<mqtt.IClientOptions> = {}): Promise<mqtt.MqttClient> {
  const url = stack().mqtt;
  if (!url) throw new Error('the stack state has no mqtt URL (tem state --mqtt URL)');
  return mqtt.connectAsync(url, {
    clientId: device.deviceId,
    username: device.deviceId,
    password: device.token,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...overrides,
  });
}

export async function publishMqtt(device: Device, topic: string, payload: string | object): Promise<void> {
  const client = await connectDevice(device);
  try {
    await client.publishAsync(topic, typeof payload === 'string' ? payload : JSON.stringify(payload), { qos: 1 });
  } finally {
    await client.endAsync();
  }
}

/** Receives (and deletes) queue messages until `match` finds one, or the time is up. */
export async function receiveMatching<T>(
  queueUrl: string,
  match: (body: T) => boolean,
  timeoutMs = 15_000,
): Promise<T> {
  const { sqs } = awsClients();
  return eventually(
    async () => {
      const { Messages } = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
          VisibilityTimeout: 0,
        }),
      );
      for (const message of Messages ?? []) {
        const body = JSON.parse(message.Body ?? 'null') as T;
        if (match(body)) {
          await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }));
          return body;
        }
      }
      return undefined;
    },
    timeoutMs,
    `a matching message on ${queueUrl}`,
  );
}

export async function controlStats(): Promise<{
  authorizerInvocations: number;
  pollers: { function: string; invocations: number; recordsProcessed: number; recordsDiscarded: number }[];
}> {
  const response = await fetch(`${local().control}/stats`);
  return (await response.json()) as Awaited<ReturnType<typeof controlStats>>;
}

export async function control(path: string): Promise<void> {
  const response = await fetch(`${local().control}${path}`, { method: 'POST' });
  if (!response.ok) throw new Error(`control ${path}: ${response.status} ${await response.text()}`);
}

/**
 * Every stored copy of a source's events: the items of the events table's `bySource` index (all pages), and, for a
 * type policies/storage.json keeps in the archive only (ADR 0018), the archive's lines. `data` is parsed back as the
 * API does (the store keeps it as a JSON string, see shared/aws/dynamo-event-store.ts).
 */
export async function storedBySource(source: string): Promise<Record<string, unknown>[]> {
  const archived = archivedOnly.length > 0 ? await archivedBySource(source) : [];
  return [...(await tabledBySource(source)), ...archived];
}

/** Types policies/storage.json keeps in the archive and not in the table: their stored copies are the archive's. */
const archivedOnly = [TELEMETRY_EVENT_TYPE].filter((type) => isArchivedOnly(type));
let archive: { reader: ArchiveReader; events: EventEnvelope[]; since: Date } | undefined;

/** The archive's copies of a source's events of archive-only types, every copy (a duplicate shows). */
async function archivedBySource(source: string): Promise<Record<string, unknown>[]> {
  archive ??= { reader: ArchiveReader.of(stack()), events: [], since: new Date(Date.now() - 3_600_000) };
  archive.events.push(...(await archive.reader.readNew(archive.since, new Date())));
  return archive.events.filter((e) => e.source === source && archivedOnly.includes(e.type)) as unknown as Record<
    string,
    unknown
  >[];
}

async function tabledBySource(source: string): Promise<Record<string, unknown>[]> {
  const { dynamo } = awsClients();
  const items: Record<string, unknown>[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const page = await dynamo.send(
      new QueryCommand({
        TableName: stack().resources.eventsTable,
        IndexName: 'bySource',
        KeyConditionExpression: '#s = :s',
        ExpressionAttributeNames: { '#s': 'source' },
        ExpressionAttributeValues: { ':s': source },
        ...(start ? { ExclusiveStartKey: start } : {}),
      }),
    );
    for (const item of page.Items ?? [])
      items.push({ ...item, data: typeof item.data === 'string' ? JSON.parse(item.data) : item.data });
    start = page.LastEvaluatedKey;
  } while (start);
  return items;
}

let devPrincipal: Promise<string> | undefined;

/**
 * The id the stack gives an event that the dev key posts with idempotency key `key`: ids are owned by the posting
 * principal (ADR 0011). The dev key's principal id is read back from one event it posts.
 */
export async function devEventId(key: string): Promise<string> {
  devPrincipal ??= (async () => {
    const posted = await api('POST', '/events', { body: { type: 'probe.principal', data: {} } });
    const id = (posted.body as { ids: string[] }).ids[0] as string;
    const stored = await eventually(async () => {
      const r = await api('GET', `/events/${id}`);
      return r.status === 200 ? (r.body as { principalId: string }) : undefined;
    });
    return stored.principalId;
  })();
  return ownedEventId(await devPrincipal, key);
}

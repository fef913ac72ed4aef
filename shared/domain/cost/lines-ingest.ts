import type { CostDesign } from './design';
import type { PriceId } from './prices';
import { billedBytes, type CostInput, GB, type Params, type Traffic } from './traffic';

/** Adds a draft line: a quantity a month of a unit, and the price it is charged at (none: shown, not charged). */
export type Add = (service: string, item: string, quantity: number, unit: string, priceId?: PriceId) => void;

export interface Ctx {
  input: CostInput;
  design: CostDesign;
  p: Params;
  t: Traffic;
  /** Seconds in the month. */
  S: number;
  add: Add;
}

/** Monthly counts the later sections share. */
export interface Counts {
  apiRequests: number;
  messages: number;
  httpRecords: number;
  readings: number;
  transitions: number;
  deviceAuthorizerInvocations: number;
  functions: { name: string; invocations: number; ms: number; memoryMb: number }[];
}

export const round = (n: number): number => (n >= 100 ? Math.round(n) : Number(n.toPrecision(3)));

/** API Gateway, the functions (requests and GB-seconds each), IoT Core. */
export function frontDoorLines({ input, design, p, t, S, add }: Ctx): Counts {
  const apiRequests = t.apiRequestsPerSecond * S;
  add('API Gateway', `REST requests (${input.batch} events each)`, apiRequests, 'request', 'apiGatewayRestRequest');
  const h = p.authorizerCacheHitRatio;
  // Each invocation is billed to the next millisecond: a cache hit costs the 1 ms minimum.
  const authorizerMs = h * Math.ceil(p.authorizerCachedMs) + (1 - h) * Math.ceil(p.authorizerUncachedMs);
  const deviceAuthorizerInvocations = (input.devices * S) / p.deviceAuthorizerRefreshSeconds;
  const { memoryMb } = design;
  const functions = [
    { name: 'apiAuthorizer', invocations: apiRequests, ms: authorizerMs, memoryMb: memoryMb.apiAuthorizer },
    {
      name: 'httpIngest',
      invocations: apiRequests,
      ms: Math.ceil(p.httpIngestBaseMs + p.httpIngestPerEventMs * input.batch),
      memoryMb: memoryMb.httpIngest,
    },
    {
      name: 'deviceAuthorizer',
      invocations: deviceAuthorizerInvocations,
      ms: Math.ceil(p.deviceAuthorizerMs),
      memoryMb: memoryMb.deviceAuthorizer,
    },
    ...t.consumers.map((c) => ({
      name: c.function,
      invocations: c.invocationsPerSecond * S,
      ms: c.billedMs,
      memoryMb: c.memoryMb,
    })),
  ];
  for (const f of functions) {
    const gbSeconds = f.invocations * (f.memoryMb / 1024) * (f.ms / 1000);
    add('Lambda', `${f.name} requests`, f.invocations, 'request', 'lambdaRequest');
    add('Lambda', `${f.name} ${f.memoryMb} MB × ${round(f.ms)} ms`, gbSeconds, 'GB-second', 'lambdaArmGbSecond');
  }

  const iot = (item: string, quantity: number, unit: string, priceId?: PriceId) =>
    add('IoT Core', item, quantity, unit, priceId);
  const messages = t.messagesPerSecond * S;
  const units = Math.ceil(t.messageBytes / p.iotMeteringBytes);
  iot(
    'connectivity (always connected)',
    input.devices * t.minutesPerMonth,
    'connection-minute',
    'iotConnectivityMinute',
  );
  if (input.ingestTopic === 'basicIngest')
    iot('reading messages over Basic Ingest (no messaging charge)', messages, 'message');
  else iot('reading messages over the broker topic', messages * units, 'message (5 KB)', 'iotMessage');
  iot('CONNECT and SUBSCRIBE', input.devices * p.deviceControlMessagesPerDay * t.daysPerMonth, 'message', 'iotMessage');
  const readings = t.readingsPerSecond * S;
  const transitions = (readings * p.alertTransitionsPerMillionReadings) / 1e6;
  iot('alert publish + delivery to the device', transitions * 2, 'message', 'iotMessage');
  const triggered = messages * design.rulesPerReading * units;
  iot('rules triggered', triggered, 'rule (5 KB)', 'iotRuleTriggered');
  iot('Kinesis actions executed', triggered * design.actionsPerRule, 'action (5 KB)', 'iotActionExecuted');
  const httpRecords = t.httpEventsPerSecond * S;
  return { apiRequests, messages, httpRecords, readings, transitions, deviceAuthorizerInvocations, functions };
}

/** Kinesis: on-demand bills data (each record rounded up to 1 KB) per reader; provisioned bills shards and units. */
export function streamLines({ input, p, t, S, add }: Ctx, c: Counts): void {
  const kinesis = (item: string, quantity: number, unit: string, priceId: PriceId) =>
    add('Kinesis', item, quantity, unit, priceId);
  if (input.kinesis === 'onDemand') {
    const kb = (b: number) => billedBytes(b, p.kinesisOnDemandRecordRoundingBytes);
    const gb = (c.httpRecords * kb(p.httpEventRecordBytes) + c.messages * kb(t.readingRecordBytes)) / GB;
    kinesis('on-demand stream', p.hoursPerMonth, 'stream-hour', 'kinesisOnDemandStreamHour');
    kinesis('data in (records rounded to 1 KB)', gb, 'GB', 'kinesisOnDemandIngestGb');
    kinesis(
      `retrieval by ${t.pollingReaders} polling reader(s)`,
      gb * t.pollingReaders,
      'GB',
      'kinesisOnDemandRetrievalGb',
    );
    kinesis(
      `enhanced fan-out retrieval, ${t.enhancedReaders} consumers`,
      gb * t.enhancedReaders,
      'GB',
      'kinesisOnDemandEfoRetrievalGb',
    );
    return;
  }
  const units = (b: number) => Math.ceil(b / p.kinesisPutPayloadUnitBytes);
  const putUnits = c.httpRecords * units(p.httpEventRecordBytes) + c.messages * units(t.readingRecordBytes);
  kinesis(
    `${t.shards} shard${t.shards === 1 ? '' : 's'}`,
    t.shards * p.hoursPerMonth,
    'shard-hour',
    'kinesisShardHour',
  );
  kinesis('PUT payload units (25 KB)', putUnits, 'unit', 'kinesisPutPayloadUnit');
  kinesis(
    `enhanced fan-out, ${t.enhancedReaders} consumers × ${t.shards} shards`,
    t.enhancedReaders * t.shards * p.hoursPerMonth,
    'consumer-shard-hour',
    'kinesisEfoConsumerShardHour',
  );
  kinesis(
    'enhanced fan-out retrieval',
    ((t.streamBytesPerSecond * S) / GB) * t.enhancedReaders,
    'GB',
    'kinesisEfoRetrievalGb',
  );
}

import { decodeStreamRecord } from '../../../shared/domain/stream-records';

/** One recent stream record as the page shows it. Every field is producer data: the page renders it as text only. */
export interface TailEntry {
  seq: number;
  /** When the Kinesis front saw the put (epoch ms). */
  at: number;
  type: string;
  source: string;
  id: string;
  /** The event's `data` as JSON, cut to DATA_CHARS. */
  data: string;
}

const DATA_CHARS = 300;
const FIELD_CHARS = 200;

interface RawPut {
  seq: number;
  at: number;
  body: Buffer;
  failed: ReadonlySet<number>;
}

/**
 * The live tail: the last put request bodies the Kinesis front passed on, kept raw (a push per put, no parsing on the
 * hot path), decoded only when a snapshot asks, and then only the puts it has not decoded before. Bounded twice: by
 * the number of records kept and by the bytes of raw bodies held.
 */
export class EventTail {
  private raw: RawPut[] = [];
  private rawBytes = 0;
  private decoded: TailEntry[] = [];
  private nextSeq = 1;
  private decodedUpTo = 0;

  constructor(
    readonly limit = 200,
    private readonly maxRawBytes = 4 * 1024 * 1024,
    private readonly now: () => number = Date.now,
  ) {}

  /** A put the stream took: its request body and the indexes of records it refused (a partial PutRecords failure). */
  push(body: Buffer, failed: ReadonlySet<number> = new Set()): void {
    if (body.length > this.maxRawBytes) return;
    this.raw.push({ seq: this.nextSeq++, at: this.now(), body, failed });
    this.rawBytes += body.length;
    // Each put holds at least one record: more than `limit` puts can never be needed.
    while (this.raw.length > this.limit || this.rawBytes > this.maxRawBytes) {
      const dropped = this.raw.shift();
      this.rawBytes -= dropped?.body.length ?? 0;
    }
  }

  /** The newest records first, at most `limit`. */
  entries(): TailEntry[] {
    const fresh = this.raw.filter((p) => p.seq > this.decodedUpTo);
    if (fresh.length > 0) {
      this.decodedUpTo = fresh.at(-1)?.seq ?? this.decodedUpTo;
      const added: TailEntry[] = [];
      // Newest puts first, so that a burst decodes only the records that will be shown.
      for (let i = fresh.length - 1; i >= 0 && added.length < this.limit; i--) {
        const put = fresh[i] as RawPut;
        const records = recordsOf(put.body).filter((_, index) => !put.failed.has(index));
        for (let r = records.length - 1; r >= 0 && added.length < this.limit; r--)
          added.push(toEntry(put, records[r] as string, r));
      }
      this.decoded = [...added, ...this.decoded].slice(0, this.limit);
    }
    return this.decoded;
  }
}

/** The base64 `Data` of each record of a PutRecords (or the one of a PutRecord) request body. */
function recordsOf(body: Buffer): string[] {
  try {
    const request = JSON.parse(body.toString('utf8')) as { Records?: { Data?: unknown }[]; Data?: unknown };
    if (Array.isArray(request.Records)) return request.Records.map((r) => (typeof r?.Data === 'string' ? r.Data : ''));
    return typeof request.Data === 'string' ? [request.Data] : [];
  } catch {
    return []; // not a JSON request (CBOR): nothing to show
  }
}

const cut = (text: string, max: number) => (text.length > max ? `${text.slice(0, max - 1)}…` : text);
const text = (value: unknown, max = FIELD_CHARS) => cut(typeof value === 'string' ? value : String(value ?? ''), max);

function toEntry(put: RawPut, data: string, index: number): TailEntry {
  const seq = put.seq * 1000 + index;
  try {
    const decoded = decodeStreamRecord(data);
    if (decoded.kind === 'rejectedReading') {
      const { rejection } = decoded;
      return {
        seq,
        at: put.at,
        type: 'device.telemetry (rejected)',
        source: text(rejection.deviceId),
        id: '',
        data: cut(JSON.stringify(rejection.issues), DATA_CHARS),
      };
    }
    const e = decoded.envelope;
    return {
      seq,
      at: put.at,
      type: text(e.type),
      source: text(e.source),
      id: text(e.id),
      data: cut(JSON.stringify(e.data) ?? '', DATA_CHARS),
    };
  } catch (error) {
    return { seq, at: put.at, type: '(not an event)', source: '', id: '', data: text((error as Error).message) };
  }
}

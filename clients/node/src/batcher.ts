/** One event waiting to be accepted, serialized once at `send` so every retry sends exactly the same bytes. */
export interface Pending {
  seq: number;
  json: string;
  /** UTF-8 size of `json`: what the buffer limit counts. */
  bytes: number;
  /** Size of `json` once JSON-escaped, as it sits in the Lambda payload: what the request limit counts. */
  wireBytes: number;
  accept(eventId: string): void;
  reject(error: Error): void;
}

/** `{"events":[` and `]}`, escaped (the two quotes become `\"`). */
const WRAPPER_WIRE_BYTES = 15;

export function wireSize(json: string): number {
  return Buffer.byteLength(JSON.stringify(json), 'utf8') - 2;
}

/** The request body of a batch: the events' JSON joined as they were serialized. */
export function bodyOf(batch: readonly Pending[]): string {
  return `{"events":[${batch.map((p) => p.json).join(',')}]}`;
}

export function batchWireBytes(batch: readonly Pending[]): number {
  return WRAPPER_WIRE_BYTES + batch.reduce((sum, p) => sum + p.wireBytes, 0) + Math.max(0, batch.length - 1);
}

/** The events not yet in a request, in `send` order, cut into batches by count and size. */
export class BatchQueue {
  private readonly items: Pending[] = [];
  private wireBytes = 0;

  constructor(
    private readonly maxEvents: number,
    private readonly maxWireBytes: number,
  ) {}

  get length(): number {
    return this.items.length;
  }

  get first(): Pending | undefined {
    return this.items[0];
  }

  get last(): Pending | undefined {
    return this.items[this.items.length - 1];
  }

  push(item: Pending): void {
    this.items.push(item);
    this.wireBytes += item.wireBytes + 1;
  }

  /** True when the next batch would be cut by a limit, not by the queue's end: no reason to linger for more. */
  get hasFullBatch(): boolean {
    return this.items.length >= this.maxEvents || WRAPPER_WIRE_BYTES + this.wireBytes - 1 > this.maxWireBytes;
  }

  /** The next batch: as many events as fit both limits, always at least one (a lone event is never held back). */
  take(): Pending[] {
    let size = WRAPPER_WIRE_BYTES;
    let count = 0;
    for (const item of this.items) {
      const added = item.wireBytes + (count > 0 ? 1 : 0);
      if (count > 0 && (count >= this.maxEvents || size + added > this.maxWireBytes)) break;
      size += added;
      count++;
    }
    const batch = this.items.splice(0, count);
    for (const item of batch) this.wireBytes -= item.wireBytes + 1;
    return batch;
  }
}

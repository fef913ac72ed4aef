import { describe, expect, it } from 'vitest';
import { MAX_BATCH_PAYLOAD_BYTES, recordsWithinPayload } from '../../infra/local/kinesis-poller';

const records = (n: number, bytes: number) => Array.from({ length: n }, () => ({ Data: new Uint8Array(bytes) }));

describe('local mapping: a batch fits one invocation payload (6 MB), as in Lambda', () => {
  it('takes the whole batch size when the records are small', () => {
    expect(recordsWithinPayload(records(10_000, 30), 10_000)).toBe(10_000);
    expect(recordsWithinPayload(records(50, 300), 10_000)).toBe(50);
  });

  it('cuts before the payload passes 6 MB: 300 B readings (400 B base64 + ~500 B around each) give 6,990', () => {
    expect(recordsWithinPayload(records(10_000, 300), 10_000)).toBe(Math.floor(MAX_BATCH_PAYLOAD_BYTES / 900));
    expect(recordsWithinPayload(records(1000, 100_000), 10_000)).toBe(47);
  });

  it('always hands over at least one record, however large', () => {
    expect(recordsWithinPayload(records(3, 5_000_000), 10_000)).toBe(1);
  });
});

import { randomBytes } from 'node:crypto';

// Crockford base32, as the ULID spec (and the server's id pattern) uses it.
const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const MAX_TIME = 2 ** 48 - 1;
const MAX_RANDOM = (1n << 80n) - 1n;

function encode(value: bigint, length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) {
    out = ALPHABET[Number(value & 31n)] + out;
    value >>= 5n;
  }
  return out;
}

/**
 * A monotonic ULID generator: 48-bit millisecond time + 80 random bits. Within one millisecond (or when the clock
 * steps back) the random part is incremented instead of drawn again, so ids from one generator sort in the order
 * they were made; the server takes them as idempotency keys and, as they sort by time, they also order well.
 */
export function monotonicUlid(
  now: () => number = Date.now,
  random: (bytes: number) => Uint8Array = randomBytes,
): () => string {
  let lastTime = -1;
  let lastRandom = 0n;
  return () => {
    let time = now();
    if (!Number.isInteger(time) || time < 0 || time > MAX_TIME) throw new RangeError(`ULID time out of range: ${time}`);
    if (time <= lastTime) {
      time = lastTime;
      lastRandom++;
      // 2^80 ids in one millisecond cannot happen; if it did, the next millisecond keeps the order.
      if (lastRandom > MAX_RANDOM) {
        time++;
        lastRandom = 0n;
      }
    } else {
      lastRandom = 0n;
      for (const byte of random(10)) lastRandom = (lastRandom << 8n) | BigInt(byte);
    }
    lastTime = time;
    return encode(BigInt(time), 10) + encode(lastRandom, 16);
  };
}

/** The ULID pattern the server accepts as an `id` (either case). */
export const ULID_PATTERN = /^[0-9A-HJKMNP-TV-Z]{26}$/i;

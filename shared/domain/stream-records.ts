import { type EventEnvelope, EventEnvelopeSchema } from './events';

/** A stream record's payload back to an envelope; throws (failing just that record) when it is not one. */
export function decodeEnvelope(base64Data: string): EventEnvelope {
  const text = Buffer.from(base64Data, 'base64').toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new Error('record data is not JSON');
  }
  return EventEnvelopeSchema.parse(value);
}

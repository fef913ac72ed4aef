/** What the server said is wrong with an event: the field's path (`""` for the event itself) and why. */
export interface TemIssue {
  path: string;
  message: string;
}

/** Every error of this client is a TemError: one `instanceof` for "the event was not delivered". */
export class TemError extends Error {
  override name = 'TemError';
}

/**
 * The event is invalid (a 400), too large (a 413, or refused here before sending: `status` undefined), or cannot be
 * serialized. Never retried: sending it again gets the same answer.
 */
export class TemValidationError extends TemError {
  override name = 'TemValidationError';
  constructor(
    message: string,
    readonly issues: TemIssue[] = [],
    readonly status?: number,
  ) {
    super(message);
  }
}

/** The credential was refused (401, after one refresh where one is possible) or does not allow this (403). */
export class TemAuthError extends TemError {
  override name = 'TemAuthError';
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** Another 4xx the client cannot fix by retrying (404, 415, 431, ...): a wrong endpoint or setting. */
export class TemRequestError extends TemError {
  override name = 'TemRequestError';
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** `send` while the buffer is full: the caller should slow down (or await `flush()`), not retry at once. */
export class TemBufferFullError extends TemError {
  override name = 'TemBufferFullError';
  constructor(
    readonly limit: 'events' | 'bytes',
    readonly bufferedEvents: number,
    readonly bufferedBytes: number,
    max: number,
  ) {
    super(
      `The client's buffer is full (${limit === 'events' ? `${bufferedEvents} events` : `${bufferedBytes} bytes`}; ` +
        `the limit is ${max} ${limit}): wait for flush() or slow down`,
    );
  }
}

/** `send` after `close()`. */
export class TemClosedError extends TemError {
  override name = 'TemClosedError';
  constructor() {
    super('The client is closed');
  }
}

/** Retries ran out (attempts or time) while the service kept failing; `cause` is the last failure. */
export class TemDeliveryError extends TemError {
  override name = 'TemDeliveryError';
  constructor(
    message: string,
    readonly attempts: number,
    cause: unknown,
  ) {
    super(message, { cause });
  }
}

import { randomUUID } from 'node:crypto';

export interface AsyncInvokeDeps {
  functionArn: string;
  invoke: (event: unknown) => Promise<unknown>;
  retryAttempts: number;
  /** The function's on-failure destination. */
  sendOnFailure: (record: unknown) => Promise<void>;
  log: (message: string, fields?: Record<string, unknown>) => void;
  /** Delay before retry n (1-based); Lambda waits about 1 then 2 minutes, the local stack much less. */
  retryDelayMs?: (attempt: number) => number;
}

/**
 * Lambda's asynchronous invocation (`Event` type, as IoT rules use): the caller does not wait; a failing event is
 * retried `retryAttempts` times and then sent, with the error, to the on-failure destination.
 */
export function invokeAsync(deps: AsyncInvokeDeps, event: unknown): void {
  const requestId = randomUUID();
  const delay = deps.retryDelayMs ?? ((attempt: number) => 200 * attempt);
  void (async () => {
    let lastError: { errorType: string; errorMessage: string } = { errorType: 'Unknown', errorMessage: '' };
    for (let attempt = 0; attempt <= deps.retryAttempts; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, delay(attempt)));
      try {
        await deps.invoke(event);
        return;
      } catch (error) {
        const e = error as { errorType?: string; errorMessage?: string; message?: string };
        lastError = { errorType: e.errorType ?? 'Error', errorMessage: e.errorMessage ?? e.message ?? String(error) };
        deps.log('async invocation failed', { requestId, attempt: attempt + 1, ...lastError });
      }
    }
    const record = {
      version: '1.0',
      timestamp: new Date().toISOString(),
      requestContext: {
        requestId,
        functionArn: deps.functionArn,
        condition: 'RetriesExhausted',
        approximateInvokeCount: deps.retryAttempts + 1,
      },
      requestPayload: event,
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      responsePayload: lastError,
    };
    try {
      await deps.sendOnFailure(record);
    } catch (error) {
      deps.log('on-failure destination unreachable: event lost', { requestId, error: (error as Error).message });
    }
  })();
}

// The inside of one local "Lambda container": a worker thread with its own environment and module instance, so
// configuration is read at its cold start exactly as in AWS. It loads the same esbuild bundle CDK would deploy.
import { setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';

process.setSourceMapsEnabled?.(true);
const { bundle, functionName, memoryMb, nice } = workerData;

// In AWS the services run on capacity of their own; on one machine the function containers would take CPU from the
// emulators standing in for them. A container runs at a lower priority (Linux: nice is per thread, and this call
// changes only this thread), so a saturated machine serves the engines first. Idle CPU is still used in full.
if (nice > 0) {
  try {
    setPriority(nice);
  } catch {
    // Not permitted or not supported here: run at the default priority.
  }
}

let handler;
try {
  const mod = await import(bundle);
  handler = mod.handler;
  if (typeof handler !== 'function') throw new Error(`${bundle} does not export a handler function`);
  parentPort.postMessage({ type: 'ready' });
} catch (error) {
  parentPort.postMessage({
    type: 'init-error',
    error: { errorType: 'Runtime.InitError', errorMessage: `${error?.name ?? 'Error'}: ${error?.message ?? error}` },
  });
}

parentPort.on('message', async ({ id, event, deadline, requestId }) => {
  const context = {
    awsRequestId: requestId,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${process.env.AWS_REGION}:000000000000:function:${functionName}`,
    memoryLimitInMB: String(memoryMb),
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done() {},
    fail() {},
    succeed() {},
  };
  try {
    const result = await handler(event, context);
    parentPort.postMessage({ type: 'result', id, ok: true, result: result === undefined ? null : result });
  } catch (error) {
    parentPort.postMessage({
      type: 'result',
      id,
      ok: false,
      error: {
        errorType: error?.name ?? 'Error',
        errorMessage: String(error?.message ?? error),
        stack: typeof error?.stack === 'string' ? error.stack.split('\n').slice(0, 8) : [],
      },
    });
  }
});

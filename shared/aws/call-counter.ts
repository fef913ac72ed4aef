import type { MetadataBearer, Pluggable } from '@smithy/types';

/**
 * Counts the AWS calls this container makes, per `<service>.<operation>` (one count per call, retries included, as
 * AWS bills them). The benchmark reads it to report each consumer's calls per 1,000 records against the minimum its
 * design allows; it costs a counter increment per call.
 */
const counts = new Map<string, number>();

export function awsCallCounts(): Record<string, number> {
  return Object.fromEntries(counts);
}

export function resetAwsCallCounts(): void {
  counts.clear();
}

export function callCounter<I extends object, O extends MetadataBearer>(): Pluggable<I, O> {
  return {
    applyToStack(stack) {
      stack.add(
        (next, context) => async (args) => {
          const key = `${context.clientName ?? 'client'}.${context.commandName ?? 'command'}`;
          counts.set(key, (counts.get(key) ?? 0) + 1);
          return next(args);
        },
        // The deserialize step runs once per attempt (inside the retry middleware): each attempt is a call.
        { step: 'deserialize', name: 'temCallCounter', override: true },
      );
    },
  };
}

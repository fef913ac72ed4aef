import { afterEach, describe, expect, it, vi } from 'vitest';

/** shared/observability.ts reads POWERTOOLS_TRACE_ENABLED when it loads: each case loads a fresh copy. */
async function loadWith(value: string | undefined) {
  vi.resetModules();
  if (value === undefined) delete process.env.POWERTOOLS_TRACE_ENABLED;
  else process.env.POWERTOOLS_TRACE_ENABLED = value;
  return import('../../shared/observability');
}

describe('the tracer is loaded only where tracing may be on', () => {
  const saved = process.env.POWERTOOLS_TRACE_ENABLED;
  afterEach(() => {
    if (saved === undefined) delete process.env.POWERTOOLS_TRACE_ENABLED;
    else process.env.POWERTOOLS_TRACE_ENABLED = saved;
    vi.resetModules();
  });

  it.each(['false', 'FALSE', '0', 'off', ' no '])(
    'POWERTOOLS_TRACE_ENABLED=%j: no tracer (no X-Ray async hook)',
    async (v) => {
      const observability = await loadWith(v);
      expect(observability.tracingAllowed).toBe(false);
      expect(observability.tracer).toBeUndefined();
    },
  );

  it.each([undefined, 'true'])(
    'POWERTOOLS_TRACE_ENABLED=%j: the Powertools tracer, which decides itself',
    async (v) => {
      const observability = await loadWith(v);
      expect(observability.tracer?.constructor.name).toBe('Tracer');
    },
  );
});

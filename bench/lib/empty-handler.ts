/** The cold-start baseline: a handler that imports nothing, bundled exactly like the real ones. */
export const handler = async (): Promise<Record<string, never>> => ({});

/** A wait that does not keep the process alive: for timeouts raced against work that may finish first. */
export function idle(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

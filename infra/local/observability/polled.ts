/**
 * A value read from an engine (queue depths, open alerts) every `everyMs` while someone looks (an open page, a
 * recent scrape), never otherwise: an idle stack makes no calls for it. A read that fails keeps no stale value: the
 * page shows the error instead of a number that is no longer true.
 */
export class PolledValue<T> {
  value: T | undefined;
  error: string | undefined;
  readAt = 0;
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private wantedUntil = 0;

  constructor(
    private readonly read: () => Promise<T>,
    private readonly everyMs = 2000,
    private readonly timeoutMs = 5000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Keep reading for `forMs` more (called by each snapshot and scrape). */
  want(forMs = 5000): void {
    this.wantedUntil = Math.max(this.wantedUntil, this.now() + forMs);
    if (this.timer) return;
    this.timer = setInterval(() => {
      if (this.now() > this.wantedUntil) return this.pause();
      void this.refresh();
    }, this.everyMs);
    this.timer.unref();
    // Looked at again after a pause: what it held then is old news.
    if (this.now() - this.readAt >= this.everyMs) void this.refresh();
  }

  /** The value, read again first when older than `maxAgeMs` (waiting at most `timeoutMs` for it). */
  async fresh(maxAgeMs: number, timeoutMs: number): Promise<T | undefined> {
    this.want();
    if (this.now() - this.readAt > maxAgeMs) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.refresh(),
        new Promise<void>((r) => {
          timer = setTimeout(r, timeoutMs);
        }),
      ]);
      clearTimeout(timer);
    }
    return this.value;
  }

  refresh(): Promise<void> {
    if (this.inFlight) return this.inFlight;
    let timer: NodeJS.Timeout | undefined;
    // An engine that never answers must not stop every later read (the SDK call itself has no deadline).
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    this.inFlight = Promise.race([this.read(), deadline])
      .then(
        (value) => {
          this.value = value;
          this.error = undefined;
        },
        (error: unknown) => {
          this.value = undefined;
          this.error = error instanceof Error ? error.message : String(error);
        },
      )
      .finally(() => {
        clearTimeout(timer);
        this.readAt = this.now();
        this.inFlight = undefined;
      });
    return this.inFlight;
  }

  pause(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }
}

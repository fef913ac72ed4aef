import { sleep } from '../../bench/lib/util';
import type { HttpClient } from '../simulate/api';

/**
 * A producer that gets everything wrong, in turns: bodies that are not JSON, events without a type or with an
 * invalid one, a type outside its key's scope, too many events, a body over the size limit, no key, a key of the
 * wrong shape. Each request must be answered with a 4xx (not 429) and change nothing: the run checks afterwards
 * that nothing is stored under this principal. A 503 (an engine down) is retried unchanged, as a client would.
 */

interface BadCase {
  name: string;
  body: string;
  /** false: no credential at all; a string: that header value instead of the key. */
  key?: false | string;
  contentType?: string;
}

const event = (type: unknown, data: unknown = { soak: true }) => ({ type, data });

export function badCases(): BadCase[] {
  const deep = `${'{"a":'.repeat(200)}1${'}'.repeat(200)}`;
  return [
    { name: 'not JSON', body: '{"type": "soak.order_created", "data": ' },
    { name: 'no type', body: JSON.stringify({ data: { soak: true } }) },
    { name: 'invalid type', body: JSON.stringify(event('Not A Type!')) },
    { name: 'type out of scope', body: JSON.stringify(event('payment.success')) },
    { name: 'data not an object', body: JSON.stringify(event('soak.order_created', 'text')) },
    { name: 'nested too deep', body: `{"type":"soak.order_created","data":${deep}}` },
    { name: '501 events', body: JSON.stringify({ events: Array.from({ length: 501 }, () => event('soak.x')) }) },
    { name: 'body over 10 MB', body: JSON.stringify(event('soak.order_created', { blob: 'x'.repeat(10_500_000) })) },
    { name: 'no credential', body: JSON.stringify(event('soak.order_created')), key: false },
    { name: 'key of the wrong shape', body: JSON.stringify(event('soak.order_created')), key: 'not-a-key' },
    { name: 'form body', body: 'type=soak.order_created', contentType: 'application/x-www-form-urlencoded' },
  ];
}

const ATTEMPTS = 30;

export class BadProducer {
  requests = 0;
  /** Final answers by status, and by case and status. */
  readonly byStatus: Record<string, number> = {};
  readonly byCase: Record<string, Record<string, number>> = {};
  /** Requests sent again after a 503 (or no answer). */
  retries = 0;
  /** Answers that were not a 4xx: each one is a problem. */
  readonly wrong: { case: string; status: number; body: string }[] = [];
  wrongAnswers = 0;
  private readonly cases = badCases();

  constructor(
    private readonly client: HttpClient,
    private readonly apiKey: string,
  ) {}

  async run(rate: number, durationMs: number, stop: () => boolean): Promise<void> {
    const started = performance.now();
    const total = Math.round((rate * durationMs) / 1000);
    for (let sent = 0; sent < total && !stop(); sent++) {
      const due = started + (sent * 1000) / rate;
      if (due > performance.now()) await sleep(due - performance.now());
      await this.send(this.cases[sent % this.cases.length] as BadCase);
    }
  }

  private async send(c: BadCase): Promise<void> {
    const headers: Record<string, string> = { 'content-type': c.contentType ?? 'application/json' };
    if (c.key !== false) headers['X-API-Key'] = c.key ?? this.apiKey;
    let status = 0;
    let body = '';
    for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
      this.requests++;
      try {
        const answer = await this.client.once('POST', '/events', headers, c.body);
        status = answer.status;
        body = answer.body;
        if (status !== 503) break;
        await sleep(Math.min(5000, (answer.retryAfterSeconds ?? 0.5) * 1000));
      } catch (error) {
        status = 0;
        body = (error as Error).message;
        await sleep(500);
      }
      if (attempt < ATTEMPTS) this.retries++;
    }
    this.byStatus[status] = (this.byStatus[status] ?? 0) + 1;
    const perCase = this.byCase[c.name] ?? {};
    perCase[status] = (perCase[status] ?? 0) + 1;
    this.byCase[c.name] = perCase;
    if (status < 400 || status >= 500 || status === 429) {
      this.wrongAnswers++;
      if (this.wrong.length < 20) this.wrong.push({ case: c.name, status, body: body.slice(0, 200) });
    }
  }
}

import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { sleep } from '../../bench/lib/util';
import type { Alert } from '../../shared/domain/alerts';

/**
 * The stack's HTTP API as the simulation uses it: keep-alive connections (a fixed number: the client must not
 * become the load), retries of what a retry can fix (a 429, a 5xx, a dropped connection) with backoff, and paged
 * listings. Only the state file's `http` URL is ever called.
 */

export interface Answer {
  status: number;
  body: string;
  /** The `Retry-After` header in seconds, when the answer has one (a 429, a 503). */
  retryAfterSeconds?: number;
}

const RETRIES = 5;
const TIMEOUT_MS = 30_000;

export class HttpClient {
  private readonly agent: HttpAgent;
  private readonly tls: boolean;

  constructor(
    private readonly base: string,
    connections: number,
  ) {
    this.tls = new URL(base).protocol === 'https:';
    const options = { keepAlive: true, maxSockets: connections, maxFreeSockets: connections };
    this.agent = this.tls ? new HttpsAgent(options) : new HttpAgent(options);
  }

  /** One request, no retry. `path` is appended to the base URL (which may carry a stage, `/v1`). */
  once(method: string, path: string, headers: Record<string, string>, body?: string): Promise<Answer> {
    const url = new URL(`${this.base.replace(/\/$/, '')}${path}`);
    const request = this.tls ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = request(
        url,
        {
          method,
          agent: this.agent,
          timeout: TIMEOUT_MS,
          headers: body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          const retryAfter = Number(res.headers['retry-after']);
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 0,
              body: Buffer.concat(chunks).toString('utf8'),
              ...(Number.isFinite(retryAfter) && retryAfter >= 0 ? { retryAfterSeconds: retryAfter } : {}),
            }),
          );
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error(`${method} ${url.pathname} timed out`)));
      req.on('error', reject);
      req.end(body);
    });
  }

  /** Retries 429, 5xx and connection errors (full-jitter backoff); any other answer is returned as it is. */
  async call(method: string, path: string, headers: Record<string, string>, body?: string): Promise<Answer> {
    for (let attempt = 1; ; attempt++) {
      try {
        const answer = await this.once(method, path, headers, body);
        if ((answer.status !== 429 && answer.status < 500) || attempt >= RETRIES) return answer;
      } catch (error) {
        if (attempt >= RETRIES) throw error;
      }
      await sleep(Math.random() * Math.min(2000, 100 * 2 ** attempt));
    }
  }

  close(): void {
    this.agent.destroy();
  }
}

interface Page<T> {
  items: T[];
  nextCursor?: string | null;
}

/** Reads as the admin key of the state file. */
export class StackReader {
  constructor(
    private readonly client: HttpClient,
    private readonly apiKey: string,
  ) {}

  private async json<T>(path: string): Promise<T> {
    const answer = await this.client.call('GET', path, { 'X-API-Key': this.apiKey });
    if (answer.status !== 200)
      throw new Error(`GET ${path.split('?')[0]}: ${answer.status} ${answer.body.slice(0, 200)}`);
    return JSON.parse(answer.body) as T;
  }

  private async all<T>(path: string, params: Record<string, string | undefined>): Promise<T[]> {
    const items: T[] = [];
    let cursor: string | undefined;
    do {
      const query = new URLSearchParams({ limit: '100' });
      for (const [k, v] of Object.entries(params)) if (v !== undefined) query.set(k, v);
      if (cursor) query.set('cursor', cursor);
      const page = await this.json<Page<T>>(`${path}?${query}`);
      items.push(...page.items);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    return items;
  }

  /** Every stored event of a source with `occurredAt` in [since, until], all pages. */
  events(source: string, since?: string, until?: string): Promise<Record<string, unknown>[]> {
    return this.all('/events', { source, since, until });
  }

  /** `GET /alerts` with the given filters, all pages. */
  alerts(params: { state?: 'open' | 'resolved'; since?: string; deviceId?: string }): Promise<Alert[]> {
    return this.all('/alerts', params);
  }

  /** Is the event stored yet? (200, or 404 while it is not.) */
  async eventStatus(id: string): Promise<number> {
    return (await this.client.once('GET', `/events/${encodeURIComponent(id)}`, { 'X-API-Key': this.apiKey })).status;
  }
}

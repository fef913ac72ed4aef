import { randomUUID } from 'node:crypto';
import { request } from 'node:http';
import { connect } from 'node:net';
import { expect } from 'vitest';
import { ownedEventId } from '../../shared/domain/events';
import { api, devKey, eventually, stack } from './support';

/**
 * What the hostile-input suites (hostile-http*.test.ts) share: requests the `fetch` client would refuse to send
 * (raw bytes, repeated headers, unnormalised paths), the one expectation every refusal meets, and a ledger of what
 * a sentinel source may hold, so that "no effect on stored data" is checked through the API as an admin.
 */

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The body as JSON, or undefined when it is not JSON. */
  json: unknown;
}

function parsed(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/**
 * One request through node:http, which sends the path as given (no dot-segment removal) and a header given as an
 * array as that many header lines.
 */
export function send(
  method: string,
  path: string,
  options: { headers?: Record<string, string | string[]>; body?: string | Buffer; key?: string | null } = {},
): Promise<Answer> {
  const url = new URL(stack().http);
  const headers: Record<string, string | string[]> = { ...(options.headers ?? {}) };
  const key = options.key === undefined ? devKey() : options.key;
  if (key !== null) headers['x-api-key'] = key;
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method, path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json: parsed(text) });
      });
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Raw bytes on a fresh connection (the request should say `connection: close`), the answer parsed loosely. */
export function sendRaw(bytes: Buffer | string): Promise<Answer> {
  const url = new URL(stack().http);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(Number(url.port), url.hostname, () => socket.write(bytes));
    const timer = setTimeout(() => socket.destroy(new Error('no answer in 10 s')), 10_000);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      const raw = Buffer.concat(chunks).toString('latin1');
      const split = raw.indexOf('\r\n\r\n');
      const head = split < 0 ? raw : raw.slice(0, split);
      const [statusLine, ...lines] = head.split('\r\n');
      const headers: Record<string, string> = {};
      for (const line of lines) {
        const colon = line.indexOf(':');
        if (colon > 0) headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
      }
      const text = split < 0 ? '' : Buffer.from(raw.slice(split + 4), 'latin1').toString('utf8');
      resolve({
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine ?? '')?.[1] ?? 0),
        headers,
        text,
        json: parsed(text),
      });
    });
  });
}

/** A raw HTTP/1.1 request: `headers` as [name, value] lines (repeats allowed), Host and connection: close added. */
export function rawRequest(method: string, path: string, headers: [string, string][], body = ''): Buffer {
  const head = [`${method} ${path} HTTP/1.1`, `host: ${new URL(stack().http).host}`, 'connection: close'];
  for (const [name, value] of headers) head.push(`${name}: ${value}`);
  if (body !== '' || method === 'POST') head.push(`content-length: ${Buffer.byteLength(body)}`);
  return Buffer.from(`${head.join('\r\n')}\r\n\r\n${body}`, 'latin1');
}

/** Text a refusal must never carry: stack frames, source paths, parser codes, AWS internals. */
const INTERNALS =
  /\n\s+at |node_modules|\/work\/|\.[tj]s:\d+|\bHPE_|Exception|TypeError|SyntaxError|arn:aws|kinesis|dynamo|stack trace/i;

/**
 * The one expectation of every hostile request: the given 4xx, JSON with a `message` that matches `message`, and no
 * internal detail (nor any physical resource name of the stack).
 */
export function expectRefusal(
  answer: Answer,
  status: number,
  message: RegExp,
): { message: string } & Record<string, unknown> {
  const context = `${answer.status} ${answer.text.slice(0, 400)}`;
  expect(answer.status, context).toBe(status);
  expect(String(answer.headers['content-type']), context).toMatch(/^application\/json/);
  const body = answer.json as { message?: unknown } | undefined;
  expect(typeof body?.message, context).toBe('string');
  expect(body?.message as string, context).toMatch(message);
  expect(answer.text, context).not.toMatch(INTERNALS);
  for (const name of Object.values(stack().resources)) expect(answer.text, context).not.toContain(name);
  return body as { message: string } & Record<string, unknown>;
}

let principal: Promise<string> | undefined;

/** The dev key's principal id (events' ids are derived from it), read back from one event it posts. */
export function devPrincipalId(): Promise<string> {
  principal ??= (async () => {
    const posted = await api('POST', '/events', { body: { type: 'probe.principal', data: {} } });
    const id = (posted.body as { ids: string[] }).ids[0] as string;
    const stored = await eventually(async () => {
      const r = await api('GET', `/events/${id}`);
      return r.status === 200 ? (r.body as { principalId: string }) : undefined;
    });
    return stored.principalId;
  })();
  return principal;
}

export interface StoredEvent {
  id: string;
  source: string;
  type: string;
  idempotencyKey?: string;
  data: Record<string, unknown>;
}

/**
 * A sentinel source and what it may hold: hostile requests name the source, legitimate ones (the canaries that
 * follow each hostile request, and hostile-looking events that are valid by contract) are recorded here. `settle`
 * reads the source back as the admin through GET /events and compares: no more, no fewer.
 */
export class Ledger {
  readonly source = `hostile-${randomUUID().slice(0, 8)}`;
  private readonly expected = new Set<string>();

  /** The next legitimate request after a hostile one: served normally (202), and stored. */
  async canary(): Promise<void> {
    const key = randomUUID();
    const r = await api('POST', '/events', {
      body: { id: key, type: 'hostile.canary', source: this.source, data: {} },
    });
    expect(r.status, `canary after a hostile request: ${r.text.slice(0, 300)}`).toBe(202);
    this.expected.add(ownedEventId(await devPrincipalId(), key));
  }

  /** An event the contract accepts although it looks hostile: its id, to be found stored. */
  accept(id: string): void {
    this.expected.add(id);
  }

  /** Every event of the source, as the admin reads them (all pages). */
  async stored(): Promise<StoredEvent[]> {
    const items: StoredEvent[] = [];
    let cursor: string | null = null;
    do {
      const query: string = `/events?source=${this.source}&limit=100${cursor ? `&cursor=${cursor}` : ''}`;
      const r = await api('GET', query);
      expect(r.status, r.text).toBe(200);
      const page = r.body as { items: StoredEvent[]; nextCursor: string | null };
      items.push(...page.items);
      cursor = page.nextCursor;
    } while (cursor);
    return items;
  }

  /**
   * Waits until every expected event is stored, then checks that nothing else is. Sound because one source is one
   * partition key: the stream keeps its records in order, so once the last canary is stored every earlier record
   * of the source has been dealt with.
   */
  async settle(): Promise<StoredEvent[]> {
    const items = await eventually(
      async () => {
        const found = await this.stored();
        const ids = new Set(found.map((i) => i.id));
        return [...this.expected].every((id) => ids.has(id)) ? found : undefined;
      },
      30_000,
      `the ${this.expected.size} legitimate events of ${this.source}`,
    );
    expect(items.map((i) => i.id).sort()).toEqual([...this.expected].sort());
    return items;
  }
}

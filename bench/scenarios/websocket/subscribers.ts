import WebSocket from 'ws';
import { sleep, summarize } from '../../lib/util';
import type { Load } from './deliveries';

export interface Subscriber {
  index: number;
  socket: WebSocket;
  /** Per stream: the seq the next event should carry (numbers count events, not frames). */
  nextSeq: Map<string, number>;
  gaps: number;
  outOfOrder: number;
  dropped: string[];
  errors: string[];
  closed?: { code: number; reason: string };
  waiting?: { id: string; resolve: (reply: Record<string, unknown>) => void };
  onPong?: (at: number) => void;
}

export function assertLoopback(urls: readonly (string | undefined)[]): void {
  for (const url of urls) {
    if (url === undefined) continue;
    const host = new URL(url).hostname;
    if (!['127.0.0.1', 'localhost', '[::1]', '::1'].includes(host))
      throw new Error(`the websocket step talks to loopback only; ${url} is not`);
  }
}

export function connectSubscriber(
  url: string,
  key: string,
  index: number,
  loads: Map<string, Load>,
  /** Every socket opened, to be closed at the end whatever happens. */
  all: Subscriber[],
): Promise<Subscriber> {
  const socket = new WebSocket(url, [], {
    headers: { 'x-api-key': key },
    handshakeTimeout: 15_000,
    perMessageDeflate: false,
  });
  const sub: Subscriber = { index, socket, nextSeq: new Map(), gaps: 0, outOfOrder: 0, dropped: [], errors: [] };
  all.push(sub);
  socket.on('message', (data) => {
    const at = performance.now();
    let m: Record<string, unknown>;
    try {
      m = JSON.parse(data.toString()) as Record<string, unknown>;
    } catch {
      sub.errors.push('a frame that is not JSON');
      return;
    }
    switch (m.type) {
      case 'events': {
        const items = (m.events ?? []) as {
          event?: { type?: string; data?: { bench?: { phase?: string; n?: number } } };
        }[];
        const stream = String(m.stream);
        const seq = Number(m.seq);
        const expected = sub.nextSeq.get(stream) ?? 1;
        if (seq > expected) sub.gaps += seq - expected;
        else if (seq < expected) sub.outOfOrder++;
        sub.nextSeq.set(stream, Math.max(expected, seq + items.length));
        for (const item of items) {
          const bench = item.event?.data?.bench;
          const load = bench?.phase ? loads.get(bench.phase) : undefined;
          if (load) load.record(index, Number(bench?.n), at, String(item.event?.type));
        }
        return;
      }
      case 'pong':
        sub.onPong?.(at);
        return;
      case 'dropped':
        sub.dropped.push(String(m.reason));
        return;
      default:
        if (sub.waiting && (m.type === 'error' || m.id === sub.waiting.id)) {
          sub.waiting.resolve(m);
          sub.waiting = undefined;
        } else if (m.type === 'error') sub.errors.push(String(m.message));
    }
  });
  socket.on('close', (code, reason) => {
    sub.closed = { code, reason: reason.toString() };
  });
  return new Promise((resolve, reject) => {
    socket.once('open', () => {
      socket.on('error', (error) => sub.errors.push(error.message));
      resolve(sub);
    });
    socket.once('unexpected-response', (_req, res) =>
      reject(new Error(`WebSocket connect refused: HTTP ${res.statusCode}`)),
    );
    socket.once('error', reject);
  });
}

export async function subscribe(sub: Subscriber, id: string, filter: Record<string, unknown>): Promise<void> {
  const reply = await new Promise<Record<string, unknown>>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer to subscribe ${id} in 10 s`)), 10_000);
    sub.waiting = {
      id,
      resolve: (r) => {
        clearTimeout(timer);
        resolve(r);
      },
    };
    sub.socket.send(JSON.stringify({ action: 'subscribe', id, filter }));
  });
  if (reply.type !== 'subscribed') throw new Error(`subscribe ${id}: ${JSON.stringify(reply)}`);
}

/** `{action:"ping"}` → `pong` round trips on one connection, one at a time, every 100 ms (the gateway's echo). */
export function pinger(sub: Subscriber) {
  const rtt: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running && sub.socket.readyState === WebSocket.OPEN) {
      const t = performance.now();
      const answered = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 5000);
        sub.onPong = (at) => {
          clearTimeout(timer);
          rtt.push(at - t);
          resolve(true);
        };
        sub.socket.send(JSON.stringify({ action: 'ping' }));
      });
      if (!answered) rtt.push(Number.POSITIVE_INFINITY);
      await sleep(100);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return summarize(rtt);
    },
  };
}

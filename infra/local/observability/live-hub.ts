import type { ServerResponse } from 'node:http';

/** A page that falls this far behind (a stalled tab) is dropped rather than buffered without bound. */
const MAX_BUFFERED_BYTES = 4 * 1024 * 1024;

/**
 * `GET /live`: Server-Sent Events to every open page. A snapshot is serialised once and written to all of them, so
 * ten open pages cost what one does. The first message of a stream (`event: history`) carries the chart history.
 */
export class LiveHub {
  private readonly clients = new Set<ServerResponse>();
  private closed = false;

  get size(): number {
    return this.clients.size;
  }

  add(res: ServerResponse, history: unknown): void {
    // A page reconnecting while the stack stops must not hold the control server open.
    if (this.closed) {
      res.writeHead(503, { 'content-type': 'application/json', connection: 'close' });
      res.end(JSON.stringify({ message: 'the stack is stopping' }));
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
      'x-content-type-options': 'nosniff',
    });
    res.write(`retry: 2000\n\nevent: history\ndata: ${JSON.stringify(history)}\n\n`);
    this.clients.add(res);
    res.once('close', () => this.clients.delete(res));
  }

  broadcast(snapshot: unknown): void {
    const frame = `data: ${JSON.stringify(snapshot)}\n\n`;
    for (const res of this.clients) {
      if (res.writableLength > MAX_BUFFERED_BYTES) {
        this.clients.delete(res);
        res.destroy();
      } else res.write(frame);
    }
  }

  close(): void {
    this.closed = true;
    for (const res of this.clients) res.end();
    this.clients.clear();
  }
}

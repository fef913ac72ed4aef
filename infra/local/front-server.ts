import type { Agent, Server } from 'node:http';
import type { Socket } from 'node:net';
import { freePort } from './net';

/**
 * The listening half of the engines' local fronts (`kinesis-front.ts`, `dynamodb-front.ts`): an HTTP server on a free
 * loopback port whose connections are tracked, so closing it ends kept-alive clients at once instead of waiting them
 * out.
 */
export class FrontServer {
  private closed = false;

  private constructor(
    private readonly server: Server,
    private readonly sockets: Set<Socket>,
    readonly url: string,
  ) {}

  static async listen(server: Server): Promise<FrontServer> {
    const sockets = new Set<Socket>();
    server.on('connection', (socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    server.keepAliveTimeout = 5000;
    const port = await freePort();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => resolve());
    });
    return new FrontServer(server, sockets, `http://127.0.0.1:${port}`);
  }

  /** Closes the server, its connections and the agent it forwards through. */
  async close(agent: Agent): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const socket of this.sockets) socket.destroy();
    agent.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

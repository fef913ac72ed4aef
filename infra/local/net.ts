import { readFileSync } from 'node:fs';
import { createServer, type Server, Socket } from 'node:net';

/** A port the OS says is free right now: how two stacks (or a stack and a test run) never collide. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function canListen(port: number): Promise<Server | undefined> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(undefined));
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

/** The kernel's range for the local ports of outgoing connections (Linux; the usual default elsewhere). */
function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low && high && low < high) return [low, high];
  } catch {
    // not Linux
  }
  return [32768, 60999];
}

/**
 * A port for an engine, free now, and `count` consecutive ones for an engine that listens on more than one
 * (kinesis-local: plain and TLS). Taken below the ephemeral range: a port the OS hands out (port 0) is also where
 * the local end of any outgoing connection may land between this check and the engine's own listen, and an engine
 * that starts slowly then fails with EADDRINUSE. Below the range only another listener can take it.
 */
export async function freeEnginePort(count = 1, attempts = 50): Promise<number> {
  const [low] = ephemeralRange();
  const floor = 10_000;
  const span = Math.max(1, low - floor - count);
  for (let i = 0; i < attempts; i++) {
    const port = floor + Math.floor(Math.random() * span);
    const held = await Promise.all(Array.from({ length: count }, (_, k) => canListen(port + k)));
    await Promise.all(held.map((s) => new Promise<void>((r) => (s ? s.close(() => r()) : r()))));
    if (held.every((s) => s !== undefined)) return port;
  }
  throw new Error(`no ${count} consecutive free port(s) on 127.0.0.1 below ${low} after ${attempts} attempts`);
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = new Socket();
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(500, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
    socket.connect(port, '127.0.0.1');
  });
}

export async function waitForPort(port: number, timeoutMs: number, isAlive: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!isAlive()) throw new Error('process exited before it listened');
    if (await canConnect(port)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listened on port ${port} within ${timeoutMs} ms`);
}

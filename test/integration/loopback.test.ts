import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { startStackProcess, stopStackProcess } from './global-setup';
import { isEmbedded, local } from './support';

interface Listener {
  /** As the kernel shows it in /proc/net/tcp{,6}: hex, each 32-bit word little-endian. */
  ip: string;
  port: number;
  inode: string;
}

/** Listening TCP sockets from /proc/net/tcp{,6} (the table `ss -ltn` reads). */
function listenerTable(): Listener[] {
  const all: Listener[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const [, localAddress, , state] = fields;
      if (state !== '0A' || !localAddress) continue; // 0A = LISTEN
      const [ip = '', portHex = ''] = localAddress.split(':');
      all.push({ ip, port: Number.parseInt(portHex, 16), inode: fields[9] ?? '' });
    }
  }
  return all;
}

/** Port -> the addresses it is bound to. */
function listeners(): Map<number, string[]> {
  const byPort = new Map<number, string[]>();
  for (const { ip, port } of listenerTable()) byPort.set(port, [...(byPort.get(port) ?? []), ip]);
  return byPort;
}

const IPV4_LOOPBACK = '0100007F'; // 127.0.0.1, little-endian
const IPV6_LOOPBACK = '00000000000000000000000001000000'; // ::1
const IPV4_MAPPED_LOOPBACK = '0000000000000000FFFF00000100007F'; // ::ffff:127.0.0.1 (a Java socket on dual stack)
const isLoopback = (ip: string) => ip === IPV4_LOOPBACK || ip === IPV6_LOOPBACK || ip === IPV4_MAPPED_LOOPBACK;

/** The address as `ss` prints it: 127.0.0.1, 0.0.0.0, [::], [::ffff:127.0.0.1]... */
function readable(ip: string): string {
  const words = (ip.match(/.{8}/g) ?? []).map((w) => (w.match(/../g) ?? []).reverse().join(''));
  if (words.length === 1) return (words[0]?.match(/../g) ?? []).map((b) => Number.parseInt(b, 16)).join('.');
  const groups = words.join('').match(/.{4}/g) ?? [];
  return new URL(`http://[${groups.join(':')}]/`).hostname; // the URL parser writes it short: [::], [::1]
}

/** The process and every process below it (its engines, theirs), from /proc/<pid>/stat. */
function processTree(root: number): number[] {
  const parentOf = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces and parentheses, so read after its last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parentOf.set(Number(entry), ppid);
    } catch {
      // the process ended meanwhile
    }
  }
  const tree = [root];
  for (let i = 0; i < tree.length; i++)
    for (const [pid, ppid] of parentOf) if (ppid === tree[i] && !tree.includes(pid)) tree.push(pid);
  return tree;
}

/** Every listening TCP socket a process holds (what `ss -ltnp` shows as its users), found by socket inode. */
function listenersOf(pid: number, table: Listener[]): { pid: number; port: number; address: string; ip: string }[] {
  const inodes = new Set<string>();
  let fds: string[] = [];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch {
    return []; // the process ended meanwhile
  }
  for (const fd of fds) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      const match = /^socket:\[(\d+)\]$/.exec(target);
      if (match?.[1]) inodes.add(match[1]);
    } catch {
      // the descriptor was closed meanwhile
    }
  }
  return table
    .filter((l) => inodes.has(l.inode))
    .map((l) => ({ pid, port: l.port, address: `${readable(l.ip)}:${l.port}`, ip: l.ip }));
}

describe.runIf(isEmbedded() && existsSync('/proc/net/tcp'))('the embedded stack listens on loopback only', () => {
  it('every port of the stack (gateway, MQTT, control, Kinesis front, IoT data plane, engines) is bound to loopback', () => {
    const info = local();
    const urls = [
      info.http,
      info.mqtt,
      info.control,
      ...Object.values(info.endpoints),
      ...Object.values(info.engines).map((e) => e.url),
      info.resources.iotDataEndpoint,
    ];
    const ports = [...new Set(urls.map((u) => Number(new URL(u).port)))];
    const bound = listeners();
    const exposed = ports
      .map((port) => ({ port, addresses: bound.get(port) ?? [] }))
      .filter(({ addresses }) => addresses.some((a) => !isLoopback(a)));
    expect(ports.length).toBeGreaterThanOrEqual(7);
    expect(ports.every((p) => bound.has(p))).toBe(true);
    expect(exposed).toEqual([]);
  });
});

describe.runIf(existsSync('/proc/net/tcp'))('the alternative engines listen on loopback only', () => {
  it('a stack on DynamoDB Local and kinesis-local: every listening socket of its processes (kinesis-local TLS port too) is on loopback', async () => {
    const { child, info, stateDir, output } = await startStackProcess({
      TEM_DYNAMODB_ENGINE: 'dynamodb-local',
      TEM_KINESIS_ENGINE: 'kinesis-local',
    });
    try {
      // Without Java 17, chooseEngines falls back to dynalite: this test would then not test DynamoDB Local.
      expect(info.engines.dynamodb.engine, output().slice(-1500)).toBe('dynamodb-local');
      expect(info.engines.kinesis.engine).toBe('kinesis-local');
      const table = listenerTable();
      const tree = processTree(child.pid ?? info.pid);
      const sockets = tree.flatMap((pid) => listenersOf(pid, table));
      const portsOf = (pid: number | undefined) => sockets.filter((s) => s.pid === pid).map((s) => s.port);

      const kinesisPort = Number(new URL(info.engines.kinesis.url).port);
      const kinesisPorts = portsOf(info.engines.kinesis.pid);
      expect(kinesisPorts).toContain(kinesisPort);
      // Its TLS port, next to the plain one.
      expect(kinesisPorts.filter((p) => Math.abs(p - kinesisPort) === 1)).toHaveLength(1);
      expect(portsOf(info.engines.dynamodb.pid)).toContain(Number(new URL(info.engines.dynamodb.url).port));
      const urls = [info.http, info.mqtt, info.control, ...Object.values(info.endpoints)];
      for (const url of urls) expect(sockets.map((s) => s.port)).toContain(Number(new URL(url).port));

      const exposed = sockets.filter((s) => !isLoopback(s.ip)).map(({ pid, address }) => ({ pid, address }));
      expect(exposed).toEqual([]);
    } finally {
      expect(await stopStackProcess(child), output().slice(-1500)).toBe(0);
      rmSync(stateDir, { recursive: true, force: true });
    }
  }, 180_000);
});

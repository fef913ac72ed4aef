import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isEmbedded, local } from './support';

/** Listening TCP sockets from /proc/net/tcp{,6}: port -> the addresses it is bound to (hex, as the kernel shows). */
function listeners(): Map<number, string[]> {
  const byPort = new Map<number, string[]>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(file)) continue;
    for (const line of readFileSync(file, 'utf8').split('\n').slice(1)) {
      const [, localAddress, , state] = line.trim().split(/\s+/);
      if (state !== '0A' || !localAddress) continue; // 0A = LISTEN
      const [ip = '', portHex = ''] = localAddress.split(':');
      const port = Number.parseInt(portHex, 16);
      byPort.set(port, [...(byPort.get(port) ?? []), ip]);
    }
  }
  return byPort;
}

const IPV4_LOOPBACK = '0100007F'; // 127.0.0.1, little-endian
const IPV6_LOOPBACK = '00000000000000000000000001000000'; // ::1

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
      .filter(({ addresses }) => addresses.some((a) => a !== IPV4_LOOPBACK && a !== IPV6_LOOPBACK));
    expect(ports.length).toBeGreaterThanOrEqual(7);
    expect(ports.every((p) => bound.has(p))).toBe(true);
    expect(exposed).toEqual([]);
  });
});

import WebSocket from 'ws';
import type { PushFrame } from '../../shared/domain/subscriptions';
import { intOption, list, parseCommand, positionals, usageError } from '../lib/args';
import { CliError, result } from '../lib/output';
import { readLocalState } from '../lib/state';

export const watchUsage = `usage: tem watch [--type PATTERN]... [--source S]... [--device D]... [--alerts raised|resolved]...
                 [--api-key KEY] [--max N] [--for SECONDS]
  live events (or, with --alerts, alerts) over the WebSocket API, one JSON line each on stdout`;
const spec = {
  usage: watchUsage,
  options: {
    'api-key': { type: 'string' },
    max: { type: 'string' },
    for: { type: 'string' },
    type: { type: 'string', multiple: true },
    source: { type: 'string', multiple: true },
    device: { type: 'string', multiple: true },
    alerts: { type: 'string', multiple: true },
  },
} as const;

/** Below API Gateway's 10-minute idle timeout. */
const PING_MS = 5 * 60 * 1000;

/**
 * `tem watch`: subscribes over the WebSocket API (ADR 0014) and prints what arrives. Delivery is at most once and
 * numbered per stream: a jump in `seq` is reported on stderr with how to catch up (`GET /events?since=`). Ends at
 * `--max` items, after `--for` seconds, on Ctrl-C, or when the server closes the connection (exit 1).
 */
export async function runWatch(argv: string[]): Promise<void> {
  const args = parseCommand(argv, spec);
  positionals(args, []);
  const max = intOption(args, 'max', { min: 1, max: 10_000_000 });
  const forSeconds = intOption(args, 'for', { min: 1, max: 86_400 });
  const types = list(args, 'type');
  const sources = list(args, 'source');
  const devices = list(args, 'device');
  const alerts = list(args, 'alerts');
  for (const state of alerts)
    if (state !== 'raised' && state !== 'resolved')
      throw usageError(spec, `--alerts takes raised or resolved, not "${state}"`);
  if (alerts.length > 0 && (types.length > 0 || sources.length > 0))
    throw usageError(spec, '--alerts filters by --device only');
  const filter = {
    ...(types.length > 0 ? { type: types } : {}),
    ...(sources.length > 0 ? { source: sources } : {}),
    ...(devices.length > 0 ? { deviceId: devices } : {}),
    ...(alerts.length > 0 ? { alertState: alerts } : {}),
  };
  const info = readLocalState();
  if (!info.webSocket) throw new CliError(`the ${info.target} stack's state has no WebSocket URL (webSocket)`);
  const apiKey = args.values['api-key'] ?? process.env.TEM_API_KEY ?? info.devApiKey;
  if (!apiKey) throw usageError(spec, 'no API key: --api-key KEY (or TEM_API_KEY)');

  const socket = new WebSocket(info.webSocket, { headers: { 'x-api-key': apiKey } });
  let received = 0;
  const gaps: { stream: string; missed: number }[] = [];
  const lastSeq = new Map<string, number>();
  const outcome = await new Promise<{ reason: string; ok: boolean }>((resolve) => {
    const finish = (reason: string, ok: boolean) => {
      clearInterval(ping);
      clearTimeout(timer);
      resolve({ reason, ok });
      socket.close();
    };
    const ping = setInterval(() => socket.send(JSON.stringify({ action: 'ping' })), PING_MS);
    const timer = forSeconds ? setTimeout(() => finish('time', true), forSeconds * 1000) : undefined;
    process.once('SIGINT', () => finish('interrupted', true));
    socket.on('unexpected-response', (_req, res) => finish(`connection refused: HTTP ${res.statusCode}`, false));
    socket.on('error', (error) => finish(`connection failed: ${error.message}`, false));
    socket.on('close', (code, why) => finish(`closed by the server (${code} ${why.toString()})`.trim(), false));
    socket.on('open', () => socket.send(JSON.stringify({ action: 'subscribe', id: 'watch', filter })));
    socket.on('message', (data) => {
      const message = JSON.parse(data.toString()) as PushFrame | { type: string; message?: string; reason?: string };
      if (message.type === 'subscribed') process.stderr.write(`[watch] subscribed ${JSON.stringify(filter)}\n`);
      else if (message.type === 'error') finish(`refused: ${(message as { message?: string }).message}`, false);
      else if (message.type === 'dropped') finish(`dropped: ${(message as { reason?: string }).reason}`, false);
      else if (message.type === 'events' || message.type === 'alerts') {
        const frame = message as PushFrame;
        const items = frame.type === 'events' ? frame.events : frame.alerts;
        const expected = (lastSeq.get(frame.stream) ?? frame.seq - 1) + 1;
        if (frame.seq !== expected) {
          gaps.push({ stream: frame.stream, missed: frame.seq - expected });
          process.stderr.write(
            `[watch] ${frame.seq - expected} missed on ${frame.stream}: catch up with GET /events?since=<last occurredAt>\n`,
          );
        }
        lastSeq.set(frame.stream, frame.seq + items.length - 1);
        for (const item of items) {
          process.stdout.write(`${JSON.stringify('event' in item ? item.event : item.alert)}\n`);
          received++;
          if (max !== undefined && received >= max) return finish('max', true);
        }
      }
    });
  });
  if (!outcome.ok) throw new CliError(outcome.reason);
  result({ watched: received, ended: outcome.reason, gaps });
}

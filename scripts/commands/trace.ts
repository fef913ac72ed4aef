import { createReadStream, existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { StackInfo } from '../../infra/local/stack-info';
import { correlationIdOf } from '../../shared/domain/correlation';
import { type EventEnvelope, EventEnvelopeSchema, EventIdSchema } from '../../shared/domain/events';
import { archiveUsed } from '../../shared/domain/storage-policy';
import { ArchiveReader } from '../lib/archive-reader';
import { parseCommand } from '../lib/args';
import { CliError, result } from '../lib/output';
import { readLocalState } from '../lib/state';
import { correlationOf, hopsOf, mentions, parseLogLine, renderHops } from '../lib/trace-hops';

export const traceUsage = `usage: tem trace EVENT_ID [--json] [--api-key KEY]
  the event's path through the local stack, one line per hop with the time since the previous one: received,
  accepted (httpIngest) or received by the topic rule, stored, metrics aggregated, alert rules applied, alert raised,
  pushed over WebSocket... From the function log (functionLogs in .tem/local.json) and the stored event (the events
  table, or the raw archive for a type policies/storage.json archives).
  --json   one JSON object instead (the hops with their times)`;

type ParsedLine = NonNullable<ReturnType<typeof parseLogLine>>;

/**
 * `tem trace <eventId>`: follows one event through the local stack (ADR 0016). The functions log one line per batch
 * naming its event ids (and correlation ids), so a scan of the log for the id finds every step; the stored event
 * (`GET /events/{id}`) adds when it occurred and was received. Exit 1 when neither knows the id.
 */
export async function runTrace(argv: string[]): Promise<void> {
  const parsed = options(argv);
  const [eventId, ...extra] = parsed.positionals;
  if (eventId === undefined || extra.length > 0) throw new CliError(`one EVENT_ID, please\n${traceUsage}`, 2);
  if (!EventIdSchema.safeParse(eventId).success)
    throw new CliError(
      `"${eventId}" is not an event id (a UUID or a ULID, as POST /events answered)\n${traceUsage}`,
      2,
    );

  const info = readLocalState();
  const running = await fetch(`${info.control}/stats`, { signal: AbortSignal.timeout(2000) })
    .then((r) => r.ok)
    .catch(() => false);
  const hint = running
    ? ''
    : ` The local stack (${info.http}, started ${info.startedAt}) is not running: only its log was searched; start it with \`npm start\` to see the stored event too.`;
  const apiKey = parsed.values['api-key'] ?? process.env.TEM_API_KEY ?? info.devApiKey;
  const stored = running
    ? ((await storedEvent(info.http, eventId, apiKey)) ?? (await archivedEvent(info, eventId)))
    : undefined;

  if (!existsSync(info.functionLogs) && !stored)
    throw new CliError(`No function log at ${info.functionLogs} and no stored event ${eventId}.${hint}`);
  const known = stored ? correlationIdOf(stored) : undefined;
  let scan = existsSync(info.functionLogs)
    ? await scanLog(info.functionLogs, eventId, known)
    : { lines: [], correlated: [] };
  // Not stored (yet, or the stack is down): the ingest line names the correlation id; one more pass for its lines.
  const correlationId = known ?? scan.lines.map(correlationOf).find((c) => c !== undefined);
  if (correlationId !== undefined && correlationId !== known && correlationId !== eventId)
    scan = await scanLog(info.functionLogs, eventId, correlationId);
  const { correlated } = scan;

  if (!stored && scan.lines.length === 0)
    throw new CliError(
      `Unknown event ${eventId}: not in the function log (${info.functionLogs})${running ? ' nor in the events table or the archive' : ''}.${hint}`,
    );
  const hops = hopsOf({ eventId, stored, lines: scan.lines, correlated });
  const summary = {
    eventId,
    correlationId: correlationId ?? null,
    stored: stored !== undefined,
    ...(stored ? { type: stored.type, source: stored.source, principalId: stored.principalId } : {}),
    totalMs: hops.at(-1)?.sinceFirstMs ?? 0,
    hops,
  };
  if (parsed.values.json) return result(summary);
  if (hint) process.stderr.write(`[trace]${hint}\n`);
  const what = stored ? `${stored.type} from ${stored.source} (${stored.principalId})` : 'not in the events table';
  process.stdout.write(`event ${eventId}: ${what}\ncorrelation id ${correlationId ?? '-'}\n`);
  for (const line of renderHops(hops)) process.stdout.write(`${line}\n`);
  result({
    eventId,
    correlationId: correlationId ?? null,
    stored: summary.stored,
    hops: hops.length,
    totalMs: summary.totalMs,
  });
}

function options(argv: string[]) {
  return parseCommand(argv, {
    usage: traceUsage,
    options: { json: { type: 'boolean' }, 'api-key': { type: 'string' } },
  });
}

/**
 * An event of a type kept in the raw archive only (policies/storage.json, ADR 0018) is not in the table: it is
 * looked for in the archive's last two hours of objects.
 */
async function archivedEvent(info: StackInfo, eventId: string): Promise<EventEnvelope | undefined> {
  if (!archiveUsed() || !info.archiveBuckets) return undefined;
  const reader = ArchiveReader.of(info);
  try {
    const now = Date.now();
    const found = (await reader.readNew(new Date(now - 2 * 3_600_000), new Date(now))).find((e) => e.id === eventId);
    if (!found) return undefined;
    const { archivedAt: _archivedAt, ...event } = found;
    const parsed = EventEnvelopeSchema.safeParse(event);
    return parsed.success ? parsed.data : undefined;
  } catch {
    return undefined;
  } finally {
    reader.close();
  }
}

async function storedEvent(
  http: string,
  eventId: string,
  apiKey: string | undefined,
): Promise<EventEnvelope | undefined> {
  if (!apiKey) return undefined;
  const response = await fetch(`${http}/events/${eventId}`, {
    headers: { 'X-API-Key': apiKey },
    signal: AbortSignal.timeout(5000),
  }).catch(() => undefined);
  if (!response?.ok) return undefined;
  const parsed = EventEnvelopeSchema.safeParse(await response.json());
  return parsed.success ? parsed.data : undefined;
}

/**
 * One pass over the log: the lines naming the event id, and those logged under the correlation id (when known)
 * that do not. A cheap substring test comes before any JSON parsing: the log may hold millions of lines.
 */
async function scanLog(
  file: string,
  eventId: string,
  correlationId: string | undefined,
): Promise<{ lines: ParsedLine[]; correlated: ParsedLine[] }> {
  const lines: ParsedLine[] = [];
  const correlated: ParsedLine[] = [];
  const reader = createInterface({ input: createReadStream(file, 'utf8'), crlfDelay: Number.POSITIVE_INFINITY });
  for await (const text of reader) {
    const byId = text.includes(eventId);
    const byCorrelation = !byId && correlationId !== undefined && text.includes(correlationId);
    if (!byId && !byCorrelation) continue;
    const line = parseLogLine(text);
    if (line === undefined) continue;
    if (byId && mentions(line, eventId)) lines.push(line);
    else if (byCorrelation && correlationOf(line) === correlationId) correlated.push(line);
  }
  return { lines, correlated };
}

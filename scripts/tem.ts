import { SERVICES } from '../infra/local/engine-launch';
import { Rejection } from '../shared/domain/errors';
import { CliError, HelpRequested, result } from './lib/output';
import { readLocalState } from './lib/state';

const usage = `usage: tem <command>

  local                       run the embedded local stack (npm start)
  status                      is the local stack up? (reads .tem/local.json)
  engine stop|start SERVICE   stop or start one emulator (kinesis, dynamodb, sqs) of the running local stack
  state --from-stack NAME [--endpoint URL] [--region R] [--out FILE] [--api-key KEY] [--mqtt URL]
                              describe a deployed stack (AWS, or LocalStack with --endpoint) as a state file
  keys create --name NAME --role ROLE [--extra PERM]... [--revoke PERM]... [--event-types PATTERN]...
              [--expires-in SECONDS]
                              a principal and its API key (the key is shown once)
  keys list                   API keys: id, principal, status, created, expiry (never a secret or its hash)
  keys revoke KEYID           revoke an API key
  keys rotate KEYID [--grace SECONDS]
                              a new key for the same principal; the old one works for the grace (default 86400)
  keys grant KEYID PERM [--event-types PATTERN]...
                              an extra permission for the key's principal; --event-types replaces its event types
                              (needed with events.post.event_ingest when its role gives none)
  keys ungrant|revoke-perm|unrevoke-perm KEYID PERM
                              change the extra / revoked permissions of the key's principal
  token --sub SUBJECT --role ROLE [--ttl SECONDS]
                              a JWT from the local stack's own issuer (development; ttl 1..86400, default 900)
  devices register DEVICE_ID  an MQTT device and its token (again: replaces the token)
  devices revoke DEVICE_ID    refuse the device's token from its next CONNECT
  devices register|delete --prefix P [--count N]
                              a fleet P00000.. at once (tokens to a 0600 file), or delete every device P*
  explain --key KEYID --route "METHOD PATH" [--event-type TYPE] [--source SOURCE]
                              may this key call this route, and which rule decides; for "POST /events" also
                              whether it may post that event type under that source (default: its own name)
  dlq peek [--queue Q] [--max 1..10]
                              what waits in a dead-letter queue (default eventsDlq), without taking it
  dlq replay [--queue Q] [--max N]
                              re-drive stream on-failure records: their records go to the stream again
  simulate --devices N --rate R --duration S [--anomalies PCT] [--http-producers P --http-rate R2] [--reuse] ...
                              a device fleet over MQTT (+ HTTP producers), reconciled: exit 1 on loss or duplicates
  watch [--type PATTERN]... [--source S]... [--device D]... [--alerts raised|resolved]... [--max N] [--for S]
                              live events (or alerts) over the WebSocket API, one JSON line each
  trace EVENT_ID [--json]     one event's path through the local stack, a timestamp per hop (function log)
  help                        this text

Every command prints one JSON object on its last stdout line.`;

// Commands are imported when run: one command's dependencies (the local stack, the CDK SDK) never load for another.
async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'local':
      return (await import('./commands/local')).runLocal();
    case 'status': {
      const info = readLocalState();
      const response = await fetch(`${info.control}/stats`).catch(() => undefined);
      if (!response?.ok) throw new CliError(`local stack at ${info.http} is not answering`);
      return result({ up: true, http: info.http, mqtt: info.mqtt, stats: await response.json() });
    }
    case 'engine': {
      const [action, service] = rest;
      if ((action !== 'stop' && action !== 'start') || !(SERVICES as readonly string[]).includes(service ?? ''))
        throw new CliError(`usage: tem engine stop|start ${SERVICES.join('|')}`, 2);
      const info = readLocalState();
      const response = await fetch(`${info.control}/engines/${service}/${action}`, { method: 'POST' });
      return result((await response.json()) as Record<string, unknown>);
    }
    case 'state':
      return (await import('./commands/state')).runState(rest);
    case 'keys':
      return (await import('./commands/keys')).runKeys(rest);
    case 'token':
      return (await import('./commands/token')).runToken(rest);
    case 'devices':
      return (await import('./commands/devices')).runDevices(rest);
    case 'explain':
      return (await import('./commands/explain')).runExplain(rest);
    case 'dlq':
      return (await import('./commands/dlq')).runDlq(rest);
    case 'simulate':
      return (await import('./commands/simulate')).runSimulate(rest);
    case 'cost':
      return (await import('./commands/cost')).runCost(rest);
    case 'watch':
      return (await import('./commands/watch')).runWatch(rest);
    case 'trace':
      return (await import('./commands/trace')).runTrace(rest);
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(`${usage}\n`);
      return result({ help: true });
    default:
      throw new CliError(`unknown command "${command}"\n${usage}`, 2);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof HelpRequested) {
    process.stdout.write(`${error.usage}\n`);
    result({ help: true });
    return;
  }
  // A Rejection is the domain refusing the request (bad name, unknown key, ...): one line, exit 1.
  if (error instanceof Rejection) {
    process.stderr.write(`tem: ${error.kind}: ${error.message}\n`);
    result({ error: error.message, kind: error.kind });
    process.exit(1);
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`tem: ${message}\n`);
  result({ error: message });
  process.exit(error instanceof CliError ? error.exitCode : 1);
});

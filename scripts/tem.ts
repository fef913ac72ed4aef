import { runLocal } from './commands/local';
import { runState } from './commands/state';
import { CliError, result } from './lib/output';
import { readLocalState } from './lib/state';

const usage = `usage: tem <command>

  local                       run the embedded local stack (npm start)
  status                      is the local stack up? (reads .tem/local.json)
  engine stop|start SERVICE   stop or start one emulator (kinesis, dynamodb, sqs) of the running local stack
  state --from-stack NAME [--endpoint URL] [--region R] [--out FILE] [--api-key KEY] [--mqtt URL]
                              describe a deployed stack (AWS, or LocalStack with --endpoint) as a state file
  help                        this text

Every command prints one JSON object on its last stdout line.`;

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'local':
      return runLocal();
    case 'status': {
      const info = readLocalState();
      const response = await fetch(`${info.control}/stats`).catch(() => undefined);
      if (!response?.ok) throw new CliError(`local stack at ${info.http} is not answering`);
      return result({ up: true, http: info.http, mqtt: info.mqtt, stats: await response.json() });
    }
    case 'engine': {
      const [action, service] = rest;
      if ((action !== 'stop' && action !== 'start') || !['kinesis', 'dynamodb', 'sqs'].includes(service ?? ''))
        throw new CliError('usage: tem engine stop|start kinesis|dynamodb|sqs', 2);
      const info = readLocalState();
      const response = await fetch(`${info.control}/engines/${service}/${action}`, { method: 'POST' });
      return result((await response.json()) as Record<string, unknown>);
    }
    case 'state':
      return runState(rest);
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
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`tem: ${message}\n`);
  result({ error: message });
  process.exit(error instanceof CliError ? error.exitCode : 1);
});

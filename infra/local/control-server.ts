import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { ServiceName } from './engines';
import { freePort } from './net';

export interface ControlDeps {
  stats: () => unknown;
  /** The dashboard page, `/live` and `/metrics` (true: answered). */
  serve: (req: IncomingMessage, res: ServerResponse) => boolean;
  /** Like UpdateEventSourceMapping `Enabled`; false when no consumer runs that function. */
  setMappingEnabled: (functionName: string, enabled: boolean) => boolean;
  stopEngine: (service: ServiceName) => Promise<void>;
  startEngine: (service: ServiceName) => Promise<void>;
  flushAuthorizerCache: () => void;
}

/**
 * Operator/test control of the running stack (loopback only): stats, stopping and starting an engine to inject a
 * fault, flushing the authorizer cache.
 */
export async function startControlServer(deps: ControlDeps): Promise<{ server: Server; port: number }> {
  const server = createServer((req, res) => {
    const reply = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (deps.serve(req, res)) return;
    const url = new URL(req.url ?? '/', 'http://localhost');
    const engineMatch = /^\/engines\/(kinesis|dynamodb|sqs|s3|firehose)\/(stop|start)$/.exec(url.pathname);
    const mappingMatch = /^\/mappings\/([A-Za-z0-9]+)\/(enable|disable)$/.exec(url.pathname);
    if (req.method === 'GET' && url.pathname === '/stats') return reply(200, deps.stats());
    if (req.method === 'POST' && mappingMatch) {
      const [, fn = '', action] = mappingMatch;
      if (!deps.setMappingEnabled(fn, action === 'enable'))
        return reply(404, { message: `no stream consumer runs function ${fn}` });
      return reply(200, { function: fn, enabled: action === 'enable' });
    }
    if (req.method === 'POST' && url.pathname === '/authorizer-cache/flush') {
      deps.flushAuthorizerCache();
      return reply(200, { flushed: true });
    }
    if (req.method === 'POST' && engineMatch) {
      const service = engineMatch[1] as ServiceName;
      const action = engineMatch[2] === 'stop' ? deps.stopEngine(service) : deps.startEngine(service);
      action.then(
        () => reply(200, { service, state: engineMatch[2] === 'stop' ? 'stopped' : 'running' }),
        (error: Error) => reply(500, { message: error.message }),
      );
      return;
    }
    reply(404, { message: 'Not Found' });
  });
  const port = controlPort() ?? (await freePort());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return { server, port };
}

/** `TEM_CONTROL_PORT`: a fixed port for the control server (a Prometheus scrape target); unset, a free one. */
function controlPort(): number | undefined {
  const raw = process.env.TEM_CONTROL_PORT;
  if (raw === undefined || raw === '' || raw === '0') return undefined;
  const port = Number(raw);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new Error(`TEM_CONTROL_PORT must be a port number (0 picks a free one), got "${raw}"`);
  return port;
}

import { Agent, request } from 'node:http';

/**
 * A lean HTTP/1.1 client for load generation (node:http with a keep-alive agent: a fixed number of connections,
 * less client CPU than fetch on a 2-core machine where the client competes with the stack).
 */
export function agent(connections: number): Agent {
  return new Agent({ keepAlive: true, maxSockets: connections, maxFreeSockets: connections });
}

export interface Answer {
  status: number;
  body: string;
}

export function send(
  via: Agent,
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: string,
  timeoutMs = 30_000,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const target = new URL(url);
    const req = request(
      {
        host: target.hostname,
        port: target.port,
        path: `${target.pathname}${target.search}`,
        method,
        agent: via,
        headers: body === undefined ? headers : { ...headers, 'content-length': Buffer.byteLength(body) },
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${target.pathname} timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

/** POST /events with the given key; the ids the stack accepted (202), or those it names as accepted in a 503. */
export async function postEvents(
  via: Agent,
  http: string,
  apiKey: string,
  body: string,
): Promise<{ status: number; ids: string[]; text: string }> {
  const answer = await send(
    via,
    `${http}/events`,
    'POST',
    { 'X-API-Key': apiKey, 'content-type': 'application/json' },
    body,
  );
  let ids: string[] = [];
  try {
    const parsed = JSON.parse(answer.body) as { ids?: string[]; accepted?: unknown };
    if (answer.status === 202 && Array.isArray(parsed.ids)) ids = parsed.ids;
    else if (Array.isArray(parsed.accepted)) ids = parsed.accepted as string[];
  } catch {
    // not JSON: no ids
  }
  return { status: answer.status, ids, text: answer.body };
}

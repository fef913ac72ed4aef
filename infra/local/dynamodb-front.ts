import { Agent, createServer, type IncomingHttpHeaders, request } from 'node:http';
import { type DynamoRequest, mergeAnswers, mergeTableLists, type Placement, routeOf } from './dynamodb-routing';
import { FrontServer } from './front-server';

/**
 * The DynamoDB endpoint of the local stack when its tables live in separate engine processes (ADR 0017): one URL,
 * as in AWS, in front of one engine per table. A request naming one engine's tables is forwarded unchanged, so the
 * engine's answers and errors are what callers see; a batch spanning engines is split and its answers merged; a
 * transaction spanning engines is refused with a clear error (no engine could commit it atomically). When an engine
 * is down, the caller's connection is dropped, as it would be by the engine itself.
 */

/** Request bodies larger than DynamoDB's own limit (16 MB for a BatchWriteItem) are not read. */
const MAX_BODY_BYTES = 17 * 1024 * 1024;

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export class DynamoFront {
  private front: FrontServer | undefined;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });

  constructor(private readonly placement: Placement) {}

  /** Every engine behind the front, the default one first. */
  get engines(): string[] {
    return [...new Set([this.placement.defaultEngine, ...this.placement.engineOf.values()])];
  }

  async listen(): Promise<string> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) req.socket.destroy();
        else chunks.push(chunk);
      });
      req.once('end', () => {
        const raw = Buffer.concat(chunks);
        this.handle(req.headers, req.url ?? '/', req.method ?? 'POST', raw).then(
          (answer) => {
            res.writeHead(answer.status, answer.headers);
            res.end(answer.body);
          },
          () => req.socket.destroy(),
        );
      });
    });
    this.front = await FrontServer.listen(server);
    return this.front.url;
  }

  private async handle(headers: IncomingHttpHeaders, path: string, method: string, raw: Buffer): Promise<Answer> {
    const target = String(headers['x-amz-target'] ?? '');
    const operation = target.slice(target.indexOf('.') + 1);
    let body: Record<string, unknown> = {};
    try {
      const parsed: unknown = raw.length > 0 ? JSON.parse(raw.toString('utf8')) : {};
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed))
        body = parsed as Record<string, unknown>;
    } catch {
      // Not JSON: the default engine answers the serialization error DynamoDB would.
    }
    const route = routeOf({ operation, body } satisfies DynamoRequest, this.placement);
    const send = (engine: string, payload: Buffer) => this.send(engine, headers, path, method, payload);
    switch (route.kind) {
      case 'forward':
        return send(route.engine, raw);
      case 'refuse':
        return jsonAnswer(400, { __type: `com.amazonaws.dynamodb.v20120810#${route.type}`, message: route.message });
      case 'listTables': {
        const lists: string[][] = [];
        for (const engine of this.engines) {
          // Each engine's whole list: a local stack holds a few tables, never more than a page or two.
          let after: string | undefined;
          do {
            const answer = await send(
              engine,
              Buffer.from(JSON.stringify(after ? { ExclusiveStartTableName: after } : {})),
            );
            if (answer.status !== 200) return answer;
            const page = JSON.parse(answer.body.toString('utf8')) as {
              TableNames?: string[];
              LastEvaluatedTableName?: string;
            };
            lists.push(page.TableNames ?? []);
            after = page.LastEvaluatedTableName;
          } while (after);
        }
        return jsonAnswer(200, mergeTableLists(body, lists));
      }
      case 'split': {
        const answers = await Promise.all(
          route.parts.map((part) => send(part.engine, Buffer.from(JSON.stringify(part.body)))),
        );
        // A part refused (validation, throttling, a missing table): that answer, as the engine gave it. The other
        // parts may have been applied, which a retry of the whole batch repeats harmlessly (puts and deletes are
        // idempotent; DynamoDB would have refused before applying any).
        const refused = answers.find((a) => a.status !== 200);
        if (refused) return refused;
        return jsonAnswer(
          200,
          mergeAnswers(
            operation,
            answers.map((a) => JSON.parse(a.body.toString('utf8')) as Record<string, unknown>),
          ),
        );
      }
    }
  }

  private async send(engineUrl: string, headers: IncomingHttpHeaders, path: string, method: string, payload: Buffer) {
    const once = () => this.sendOnce(engineUrl, { headers, path, method }, payload);
    try {
      return await once();
    } catch (error) {
      // A kept-alive socket the engine had already closed: the request never reached it, so sending it again on a
      // new socket is safe (node's documented retry for `reusedSocket`). Any other failure drops the caller's
      // connection, as the engine itself would.
      if (!(error instanceof StaleSocketError)) throw error;
      return once();
    }
  }

  private sendOnce(
    engineUrl: string,
    { headers, path, method }: { headers: IncomingHttpHeaders; path: string; method: string },
    payload: Buffer,
  ): Promise<Answer> {
    const engine = new URL(engineUrl);
    return new Promise((resolve, reject) => {
      const upstream = request(
        {
          host: engine.hostname,
          port: engine.port,
          method,
          path,
          headers: { ...withoutFraming(headers), host: engine.host, 'content-length': String(payload.length) },
          agent: this.agent,
        },
        (answer) => {
          const chunks: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => chunks.push(chunk));
          answer.once('end', () =>
            resolve({ status: answer.statusCode ?? 502, headers: answer.headers, body: Buffer.concat(chunks) }),
          );
          answer.once('error', reject);
        },
      );
      upstream.once('error', (error: NodeJS.ErrnoException) =>
        reject(upstream.reusedSocket && error.code === 'ECONNRESET' ? new StaleSocketError() : error),
      );
      upstream.end(payload);
    });
  }

  async close(): Promise<void> {
    await this.front?.close(this.agent);
    this.front = undefined;
  }
}

class StaleSocketError extends Error {}

/** The request's headers less its framing: the front sends each body whole, with its own length. */
function withoutFraming(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const { 'transfer-encoding': _chunked, 'content-length': _length, ...rest } = headers;
  return rest;
}

/** An answer the front writes itself: no `x-amz-crc32`, which the SDK checks only when it is present. */
function jsonAnswer(status: number, body: unknown): Answer {
  const bytes = Buffer.from(JSON.stringify(body));
  return {
    status,
    headers: { 'content-type': 'application/x-amz-json-1.0', 'content-length': String(bytes.length) },
    body: bytes,
  };
}

import { Agent, createServer, request } from 'node:http';
import { FrontServer } from './front-server';

/**
 * The Kinesis endpoint the local stack's functions and CLI talk to: a pass-through to the engine that notices every
 * successful put. In AWS a consumer registered for enhanced fan-out is pushed each record over SubscribeToShard about
 * 70 ms after the put; the engines have no push, so the poller of an enhanced consumer sleeps until this front says a
 * put landed, then reads with GetRecords. Records are readable by then: the engine answers a put once it is stored.
 *
 * Requests and answers are piped through unchanged, so the engine's semantics and errors are what callers see. When
 * the engine is down, the caller's connection is dropped, as it would be by the engine itself.
 */
/** Stands for "some shard": listeners wake every shard's poller for it. */
export const ANY_SHARD = '*';

export class KinesisFront {
  private front: FrontServer | undefined;
  private readonly listeners = new Set<(shardIds: ReadonlySet<string>) => void>();
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });
  /** Successful puts, per shard: a poller compares its shard's count before and after a read to miss no wake-up. */
  private readonly generations = new Map<string, number>();
  private readonly recordListeners = new Set<(requestBody: Buffer, failedIndexes: ReadonlySet<number>) => void>();
  puts = 0;
  /** Records the stream took (a PutRecords' records less those it refused). */
  records = 0;

  constructor(private readonly engineUrl: string) {}

  /** Called after every successful PutRecord(s), with the shards the records went to. */
  onPut(listener: (shardIds: ReadonlySet<string>) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Called after every successful put with its request body as sent (raw: the listener decides whether to decode)
   * and the indexes of the records the stream refused. The body is only kept while someone listens.
   */
  onRecords(listener: (requestBody: Buffer, failedIndexes: ReadonlySet<number>) => void): () => void {
    this.recordListeners.add(listener);
    return () => this.recordListeners.delete(listener);
  }

  /** Puts seen for a shard so far (puts whose answer named no shard count for every shard). */
  generation(shardId: string): number {
    return (this.generations.get(shardId) ?? 0) + (this.generations.get(ANY_SHARD) ?? 0);
  }

  async listen(): Promise<string> {
    const engine = new URL(this.engineUrl);
    const server = createServer((req, res) => {
      const target = String(req.headers['x-amz-target'] ?? '');
      const isPut = target.endsWith('.PutRecords') || target.endsWith('.PutRecord');
      const sent: Buffer[] | undefined = isPut && this.recordListeners.size > 0 ? [] : undefined;
      if (sent) req.on('data', (chunk: Buffer) => sent.push(chunk));
      const upstream = request(
        {
          host: engine.hostname,
          port: engine.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
          agent: this.agent,
        },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
          if (!isPut || answer.statusCode !== 200) return;
          // The answer names the shard of every record taken (PutRecords: Records[].ShardId; PutRecord: ShardId).
          const chunks: Buffer[] = [];
          answer.on('data', (chunk: Buffer) => chunks.push(chunk));
          answer.once('end', () => this.landed(Buffer.concat(chunks), sent));
        },
      );
      upstream.on('error', () => req.socket.destroy());
      req.pipe(upstream);
    });
    this.front = await FrontServer.listen(server);
    return this.front.url;
  }

  private landed(body: Buffer, sent: Buffer[] | undefined): void {
    const shardIds = new Set<string>();
    const failed = new Set<number>();
    try {
      const answer = JSON.parse(body.toString('utf8')) as {
        ShardId?: string;
        Records?: { ShardId?: string; ErrorCode?: string }[];
      };
      if (answer.ShardId) shardIds.add(answer.ShardId);
      if (answer.ShardId) this.records++;
      for (const [i, r] of (answer.Records ?? []).entries()) {
        if (r.ShardId) shardIds.add(r.ShardId);
        if (r.ErrorCode) failed.add(i);
        else this.records++;
      }
    } catch {
      // Not JSON (a CBOR answer, say): fall through with no shard named, which wakes every shard's poller.
    }
    this.puts++;
    if (shardIds.size === 0) shardIds.add(ANY_SHARD);
    for (const shardId of shardIds) this.generations.set(shardId, (this.generations.get(shardId) ?? 0) + 1);
    for (const listener of this.listeners) listener(shardIds);
    if (sent) for (const listener of this.recordListeners) listener(Buffer.concat(sent), failed);
  }

  async close(): Promise<void> {
    await this.front?.close(this.agent);
    this.front = undefined;
  }
}

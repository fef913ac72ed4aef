import { gunzipSync } from 'node:zlib';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import type { StackInfo } from '../../infra/local/stack-info';
import { type ArchiveName, topology } from '../../infra/topology';
import { type ArchivedEvent, archiveHourPrefix, parseArchiveLine } from '../../shared/domain/archive-records';
import { CliError } from './output';

const HOUR_MS = 3_600_000;

/**
 * Reads a raw archive back (ADR 0018): its gzipped JSON-line objects, an hour partition at a time, each object once
 * (objects are written whole and never change, so a reader polling for more only fetches the new ones). What
 * Athena would query; the simulator and the tests use it to check that every archived event is there.
 */
export class ArchiveReader {
  private readonly seen = new Set<string>();
  /** Objects and bytes read so far. */
  objects = 0;
  bytes = 0;

  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly prefix: string,
  ) {}

  /** The reader of a stack's archive, from its state file (the embedded stack's S3, or AWS's). */
  static of(info: StackInfo, archive: ArchiveName = 'rawArchive'): ArchiveReader {
    const bucket = info.archiveBuckets?.[archive];
    if (!bucket) throw new CliError(`the state file names no bucket for the archive ${archive} (archiveBuckets)`);
    const endpoint = info.endpoints?.s3;
    const s3 = new S3Client({
      region: info.region,
      ...(info.target === 'aws'
        ? {}
        : {
            forcePathStyle: true,
            ...(endpoint ? { endpoint } : {}),
            credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
          }),
    });
    return new ArchiveReader(s3, bucket, topology.archives[archive].prefix);
  }

  /**
   * The events in objects not read before, from the hour partitions of [since, until] (Firehose names the partition
   * by the time a record reached it, at or after the event's receipt: the hour after `until` is read too).
   */
  async readNew(since: Date, until: Date): Promise<ArchivedEvent[]> {
    const events: ArchivedEvent[] = [];
    for (let hour = Math.floor(since.getTime() / HOUR_MS); hour <= Math.floor(until.getTime() / HOUR_MS) + 1; hour++) {
      const prefix = archiveHourPrefix(this.prefix, new Date(hour * HOUR_MS));
      if (!prefix) throw new Error(`archive prefix ${this.prefix} is not <fixed>!{timestamp:yyyy-MM-dd-HH}/`);
      for (const key of await this.keys(prefix)) {
        if (this.seen.has(key)) continue;
        events.push(...(await this.read(key)));
        this.seen.add(key);
      }
    }
    return events;
  }

  private async keys(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.s3.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys;
  }

  private async read(key: string): Promise<ArchivedEvent[]> {
    const object = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
    const body = Buffer.from((await object.Body?.transformToByteArray()) ?? []);
    this.objects++;
    this.bytes += body.length;
    const text = (key.endsWith('.gz') ? gunzipSync(body) : body).toString('utf8');
    return text
      .split('\n')
      .filter((line) => line.length > 0)
      .map(parseArchiveLine);
  }

  close(): void {
    this.s3.destroy();
  }
}

import {
  CreateDeliveryStreamCommand,
  DescribeDeliveryStreamCommand,
  ResourceInUseException,
} from '@aws-sdk/client-firehose';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import type { ArchiveName, Topology } from '../topology';
import { type LocalClients, physicalName, retrying } from './provision';

/** The archive's bucket on the local target (a delivery stream and its bucket share the logical name). */
export const archiveBucketName = (logical: string): string => `${physicalName(logical)}-bucket`;

/**
 * The raw archives (ADR 0018): a bucket each, and a Direct PUT delivery stream into it configured as the CDK stack
 * configures it (buffering, prefixes, GZIP). Returns the delivery streams' names, what a `write` binding carries.
 * Idempotent: run again after an engine restart, it recreates what the restart lost.
 */
export async function provisionArchives(
  topology: Topology,
  clients: LocalClients,
): Promise<Record<ArchiveName, string>> {
  const out = {} as Record<ArchiveName, string>;
  for (const [logical, spec] of Object.entries(topology.archives) as [
    ArchiveName,
    Topology['archives'][ArchiveName],
  ][]) {
    const bucket = archiveBucketName(logical);
    const name = physicalName(logical);
    await retrying(`create bucket ${bucket}`, () => clients.s3.send(new CreateBucketCommand({ Bucket: bucket })));
    await retrying(`create delivery stream ${name}`, async () => {
      try {
        await clients.firehose.send(
          new CreateDeliveryStreamCommand({
            DeliveryStreamName: name,
            DeliveryStreamType: 'DirectPut',
            ExtendedS3DestinationConfiguration: {
              BucketARN: `arn:aws:s3:::${bucket}`,
              RoleARN: 'arn:aws:iam::000000000000:role/tem-local-firehose',
              Prefix: spec.prefix,
              ErrorOutputPrefix: spec.errorPrefix,
              BufferingHints: { IntervalInSeconds: spec.bufferIntervalSeconds, SizeInMBs: spec.bufferSizeMb },
              CompressionFormat: 'GZIP',
            },
          }),
        );
      } catch (error) {
        if (!(error instanceof ResourceInUseException)) throw error;
      }
    });
    await retrying(`delivery stream ${name} active`, async () => {
      const { DeliveryStreamDescription } = await clients.firehose.send(
        new DescribeDeliveryStreamCommand({ DeliveryStreamName: name }),
      );
      if (DeliveryStreamDescription?.DeliveryStreamStatus !== 'ACTIVE') throw new Error('not active yet');
    });
    out[logical] = name;
  }
  return out;
}

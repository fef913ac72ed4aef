import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { type StoragePolicy, storagePolicy as shippedStoragePolicy } from '../../shared/domain/storage-policy';
import type { ArchiveName, ArchiveSpec, Topology } from '../topology';
import { type ArchiveLayout, ArchiveTable, archiveLayout } from './archive-catalog';
import { ArchiveDeliveryStream } from './archive-delivery';
import { build, glueName, pascal } from './build';
import type { StageSettings } from './stage';

/** A multipart upload Firehose started and did not finish within this is a failed one: its parts are dropped. */
export const ABORT_INCOMPLETE_UPLOADS_DAYS = 1;

/** One raw archive as deployed: its bucket, the delivery stream into it and the Glue table over it. */
export interface DeployedArchive {
  spec: ArchiveSpec;
  layout: ArchiveLayout;
  bucket: s3.Bucket;
  /** With its role and error log group. */
  deliveryStream: ArchiveDeliveryStream;
  table: glue.CfnTable;
  tableName: string;
}

export interface MeshArchivesProps {
  topology: Topology;
  stage: StageSettings;
  /** The Glue database of the mesh's archive tables (`MeshNames.glueDatabase`). */
  databaseName: string;
  /** How long archived objects are kept (`archive.retentionDays`). @default policies/storage.json */
  storagePolicy?: StoragePolicy;
}

/**
 * The topology's raw archives (ADR 0018): per archive, a bucket, a Direct PUT Firehose delivery stream writing gzipped
 * JSON lines into it, and a Glue table (partition projection) for Athena; for all of them, one Glue database.
 *
 * The buckets are encrypted with S3-managed keys: Firehose and Athena need no key permission, and neither pays KMS
 * requests for every object (the archive holds what the events table holds, which an AWS-managed key encrypts).
 * Versioning is off: Firehose writes every object once under a key of its own and never overwrites one, so there is no
 * older version to keep, and the lifecycle's expiration is then the last word on the data. No server access logs (see
 * nag.ts, AwsSolutions-S1): object-level auditing is CloudTrail's.
 */
export class MeshArchives extends Construct {
  readonly archives: Record<ArchiveName, DeployedArchive>;
  /** None without archives. */
  readonly database?: glue.CfnDatabase;
  readonly databaseName: string;

  constructor(scope: Construct, id: string, props: MeshArchivesProps) {
    super(scope, id);
    const { topology: t, stage } = props;
    const policy = props.storagePolicy ?? shippedStoragePolicy;
    this.databaseName = props.databaseName;
    // Every prefix is checked before anything is built: a bad one fails synth with the archive's name.
    const layouts = build(t.archives, (name, spec) => archiveLayout(name, spec.prefix));
    if (Object.keys(t.archives).length === 0) {
      this.archives = {} as Record<ArchiveName, DeployedArchive>;
      return;
    }
    const stack = Stack.of(this);
    const database = new glue.CfnDatabase(this, 'ArchiveDatabase', {
      catalogId: stack.account,
      databaseInput: { name: this.databaseName, description: 'Raw archives of the mesh (ADR 0018), for Athena' },
    });
    this.database = database;

    this.archives = build(t.archives, (name, spec) => {
      const scope = new Construct(this, pascal(name));
      const layout = layouts[name];
      const retentionDays = policy.archive.retentionDays;
      const bucket = new s3.Bucket(scope, 'Bucket', {
        // No public access, TLS only, S3-managed encryption, no ACLs.
        blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
        enforceSSL: true,
        encryption: s3.BucketEncryption.S3_MANAGED,
        objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
        versioned: false,
        // The stage decides whether the archive outlives the stack; a dev stack empties the bucket first
        // (CloudFormation deletes no bucket that holds objects).
        removalPolicy: stage.removalPolicy,
        autoDeleteObjects: stage.removalPolicy === RemovalPolicy.DESTROY,
        lifecycleRules: [
          {
            id: 'retention',
            abortIncompleteMultipartUploadAfter: Duration.days(ABORT_INCOMPLETE_UPLOADS_DAYS),
            // null: kept forever (policies/storage.json).
            ...(retentionDays === null ? {} : { expiration: Duration.days(retentionDays) }),
          },
        ],
      });

      const deliveryStream = new ArchiveDeliveryStream(scope, 'DeliveryStream', {
        archive: name,
        spec,
        layout,
        bucket,
        stage,
      });
      const tableName = glueName(name);
      const table = new ArchiveTable(scope, 'Table', { database, tableName, bucket, spec, layout }).table;
      return { spec, layout, bucket, deliveryStream, table, tableName };
    });
  }
}

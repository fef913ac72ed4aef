import { Stack } from 'aws-cdk-lib';
import * as glue from 'aws-cdk-lib/aws-glue';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { EventEnvelopeSchema } from '../../shared/domain/events';
import type { ArchiveSpec } from '../topology';

/** The hour partition's column: one value per `!{timestamp:yyyy-MM-dd-HH}` of the prefix. */
export const ARCHIVE_PARTITION_KEY = 'dt';
/** Firehose's timestamp pattern in the prefix, and Athena's for the projected dates (both Java DateTimeFormatter). */
export const ARCHIVE_PARTITION_FORMAT = 'yyyy-MM-dd-HH';
/**
 * The first projected hour: the month the archive came (ADR 0018), before any object. An hour before it is never
 * listed, so Athena looks at no more empty prefixes than it must.
 */
export const ARCHIVE_PROJECTION_START = '2026-12-01-00';

/**
 * The one prefix shape the catalog can project (and `shared/domain/archive-records.ts` reads back): a fixed part
 * without expressions, then the hour, then `/`.
 */
const HOURLY_PREFIX = /^([^!]*)!\{timestamp:yyyy-MM-dd-HH\}\/$/;

/** Where an archive's objects are, as the catalog and the grants need it. */
export interface ArchiveLayout {
  /** The prefix before the hour (`events/dt=`): every data object's key starts with it. */
  fixed: string;
  /** The table's location under the bucket: the fixed part up to its last `/` (`events/`), `''` for the bucket. */
  directory: string;
}

/** Fails synth, naming the archive, for a prefix the catalog could not project onto hour partitions. */
export function archiveLayout(name: string, prefix: string): ArchiveLayout {
  const match = HOURLY_PREFIX.exec(prefix);
  if (!match)
    throw new Error(
      `archive ${name}: prefix ${prefix} is not <fixed part>!{timestamp:${ARCHIVE_PARTITION_FORMAT}}/ ` +
        '(the Glue table projects one partition per hour of that shape)',
    );
  const fixed = match[1] ?? '';
  return { fixed, directory: fixed.slice(0, fixed.lastIndexOf('/') + 1) };
}

/** The text before a prefix's first expression (`errors/` of `errors/!{firehose:error-output-type}/...`). */
export const fixedPart = (prefix: string): string => prefix.split('!{')[0] ?? '';

/**
 * The columns: the event envelope's fields, all strings (`data` is archived as JSON text: query it with
 * `json_extract`). The OpenX SerDe lowercases JSON keys (`case.insensitive`, below), and Athena's column names are
 * lowercase, so `occurredAt` is the column `occurredat`.
 */
export function archiveColumns(): glue.CfnTable.ColumnProperty[] {
  const envelope = Object.entries(EventEnvelopeSchema.shape).map(([key, field]) => ({
    name: key.toLowerCase(),
    type: 'string',
    // Glue takes comments of up to 255 characters.
    comment: (COLUMN_COMMENTS[key] ?? field.description ?? key).slice(0, 255),
  }));
  // Added by the store consumer to each line (shared/domain/archive-records.ts).
  return [
    ...envelope,
    { name: 'archivedat', type: 'string', comment: 'UTC ISO-8601: when the store consumer sent it to Firehose' },
  ];
}

/** For the envelope fields whose schema describes them for another reader (or not at all). */
const COLUMN_COMMENTS: Readonly<Record<string, string>> = {
  type: 'The event type',
  data: 'The event payload as JSON text',
};

export interface ArchiveTableProps {
  /** Its Ref is the database's name, which makes the table wait for it. */
  database: glue.CfnDatabase;
  tableName: string;
  bucket: s3.IBucket;
  spec: ArchiveSpec;
  layout: ArchiveLayout;
}

/**
 * The Glue table Athena queries an archive through. Its partitions are projected from the key layout (partition
 * projection): no crawler and no `MSCK REPAIR TABLE`, and an hour Firehose just opened is queryable at once.
 */
export class ArchiveTable extends Construct {
  readonly table: glue.CfnTable;

  constructor(scope: Construct, id: string, props: ArchiveTableProps) {
    super(scope, id);
    const { bucket, layout } = props;
    const root = `s3://${bucket.bucketName}/`;
    this.table = new glue.CfnTable(this, 'Resource', {
      catalogId: Stack.of(this).account,
      databaseName: props.database.ref,
      tableInput: {
        name: props.tableName,
        description: props.spec.purpose,
        tableType: 'EXTERNAL_TABLE',
        parameters: {
          EXTERNAL: 'TRUE',
          classification: 'json',
          compressionType: 'gzip',
          'projection.enabled': 'true',
          [`projection.${ARCHIVE_PARTITION_KEY}.type`]: 'date',
          [`projection.${ARCHIVE_PARTITION_KEY}.format`]: ARCHIVE_PARTITION_FORMAT,
          [`projection.${ARCHIVE_PARTITION_KEY}.range`]: `${ARCHIVE_PROJECTION_START},NOW`,
          [`projection.${ARCHIVE_PARTITION_KEY}.interval`]: '1',
          [`projection.${ARCHIVE_PARTITION_KEY}.interval.unit`]: 'HOURS',
          // Where an hour's objects are: the prefix with the hour in place of Firehose's expression.
          'storage.location.template': `${root}${layout.fixed}\${${ARCHIVE_PARTITION_KEY}}/`,
        },
        partitionKeys: [
          {
            name: ARCHIVE_PARTITION_KEY,
            type: 'string',
            comment: `UTC hour Firehose received the record (${ARCHIVE_PARTITION_FORMAT})`,
          },
        ],
        storageDescriptor: {
          location: `${root}${layout.directory}`,
          columns: archiveColumns(),
          inputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
          outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
          compressed: true,
          serdeInfo: {
            serializationLibrary: 'org.openx.data.jsonserde.JsonSerDe',
            parameters: { 'case.insensitive': 'TRUE' },
          },
        },
      },
    });
  }
}

import { App, CfnElement, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { MeshArchives } from '../../infra/aws/archive';
import { MeshNames } from '../../infra/aws/mesh-names';
import { TelemetryEventMeshStack } from '../../infra/aws/stack';
import { stageSettings } from '../../infra/aws/stage';
import { type ArchiveName, archives, type FunctionName, functions, topology } from '../../infra/topology';
import { archiveLine } from '../../shared/domain/archive-records';
import { storagePolicy } from '../../shared/domain/storage-policy';
import { stubRepoRoot } from './stub-root';

// The raw archives (ADR 0018) as the default stack builds them, and a dev variant. Expectations come from the
// topology and policies/storage.json; what AWS requires is written out here. Built as in stack.test.ts: a stand-in
// repository root, bundling skipped.
const stubRoot = stubRepoRoot('archive-test');
const newApp = () => new App({ context: { 'aws:cdk:bundling-stacks': [] } });
const meshStack = (id: string, props: Partial<ConstructorParameters<typeof TelemetryEventMeshStack>[2]> = {}) =>
  new TelemetryEventMeshStack(newApp(), id, { repoRoot: stubRoot, ...props });

const stack = meshStack('TelemetryEventMesh');
const template = Template.fromStack(stack);
const dev = meshStack('Dev', { stage: 'dev' });
const devTemplate = Template.fromStack(dev);

type Resource = { Type: string; Properties: Record<string, unknown>; DeletionPolicy?: string; DependsOn?: string[] };
const resourcesOf = (type: string, from: Template = template) => from.findResources(type) as Record<string, Resource>;
const logicalId = (c: IConstruct, on: Stack = stack): string => {
  const el = CfnElement.isCfnElement(c) ? c : c.node.defaultChild;
  if (!el || !CfnElement.isCfnElement(el)) throw new Error(`no CloudFormation element for ${c.node.path}`);
  return on.getLogicalId(el);
};
const propertiesOf = (c: IConstruct, type: string, from: Template = template, on: Stack = stack) => {
  const r = resourcesOf(type, from)[logicalId(c, on)];
  if (!r) throw new Error(`no ${type} ${c.node.path}`);
  return r;
};
const arnOf = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });
const objectsArn = (bucketId: string, pattern: string) => ({
  'Fn::Join': ['', [arnOf(bucketId), `/${pattern}`]],
});

const archiveNames = Object.keys(archives) as ArchiveName[];
const functionNames = Object.keys(functions) as FunctionName[];
/** `rawArchive` -> `raw_archive`, written out here. */
const snake = (name: string) => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

interface Statement {
  Action: string | string[];
  Resource: unknown;
  Effect: string;
  Condition?: unknown;
  Principal?: unknown;
}
/** The statements of the IAM policies attached to a role. */
const statementsOfRole = (roleId: string, from: Template = template): Statement[] =>
  Object.values(resourcesOf('AWS::IAM::Policy', from))
    .filter((p) => JSON.stringify(p.Properties.Roles).includes(`"${roleId}"`))
    .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
/** `<action> on <resource>`, one per action and resource. */
const grantsOf = (statements: Statement[]): string[] =>
  statements.flatMap((s) =>
    [s.Action].flat().flatMap((a) => [s.Resource].flat().map((r) => `${a} on ${JSON.stringify(r)}`)),
  );
const on = (actions: string[], resource: unknown) => actions.map((a) => `${a} on ${JSON.stringify(resource)}`);
const functionRoleId = (fn: FunctionName, from: Template = template, on: TelemetryEventMeshStack = stack): string => {
  const props = propertiesOf(on.functions[fn], 'AWS::Lambda::Function', from, on).Properties;
  return (props.Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
};
const acknowledgedIdsOf = (c: IConstruct): string[] =>
  c.node.metadata
    .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
    .flatMap((m) => Object.keys(m.data as Record<string, string>))
    .map((id) => id.slice(id.indexOf('AwsSolutions-')));

/** The hour expression a prefix carries, which the table projects as `dt`. */
const HOUR = '!{timestamp:yyyy-MM-dd-HH}';

describe.each(archiveNames)('archive %s', (name) => {
  const spec = archives[name];
  const archive = stack.mesh.archives[name];
  const bucketId = logicalId(archive.bucket);
  const streamId = logicalId(archive.deliveryStream);
  const roleId = logicalId(archive.deliveryStream.role);
  const logGroupId = logicalId(archive.deliveryStream.logGroup);
  const tableInput = () =>
    propertiesOf(archive.table, 'AWS::Glue::Table').Properties.TableInput as Record<string, unknown>;
  /** The ids of the IAM policies attached to a role. */
  const policyIdsOf = (role: string): string[] =>
    Object.entries(resourcesOf('AWS::IAM::Policy'))
      .filter(([, p]) => JSON.stringify(p.Properties.Roles).includes(`"${role}"`))
      .map(([id]) => id);

  describe('the delivery stream', () => {
    it('one per archive, Direct PUT, server-side encrypted with an AWS-owned key', () => {
      template.resourceCountIs('AWS::KinesisFirehose::DeliveryStream', archiveNames.length);
      expect(propertiesOf(archive.deliveryStream, 'AWS::KinesisFirehose::DeliveryStream').Properties).toMatchObject({
        DeliveryStreamType: 'DirectPut',
        DeliveryStreamEncryptionConfigurationInput: { KeyType: 'AWS_OWNED_CMK' },
      });
    });

    it('to its bucket: buffering, prefixes from the topology, GZIP, its own role, error logging', () => {
      const r = propertiesOf(archive.deliveryStream, 'AWS::KinesisFirehose::DeliveryStream');
      const destination = r.Properties.ExtendedS3DestinationConfiguration as Record<string, unknown>;
      const [logStreamId] = Object.keys(resourcesOf('AWS::Logs::LogStream')).filter(
        (id) =>
          JSON.stringify(resourcesOf('AWS::Logs::LogStream')[id]?.Properties.LogGroupName) ===
          JSON.stringify({ Ref: logGroupId }),
      );
      // The whole destination: no transformation, no dynamic partitioning, no backup may creep in.
      expect(destination).toEqual({
        BucketARN: arnOf(bucketId),
        RoleARN: arnOf(roleId),
        BufferingHints: { IntervalInSeconds: spec.bufferIntervalSeconds, SizeInMBs: spec.bufferSizeMb },
        Prefix: spec.prefix,
        ErrorOutputPrefix: spec.errorPrefix,
        CompressionFormat: 'GZIP',
        CloudWatchLoggingOptions: {
          Enabled: true,
          LogGroupName: { Ref: logGroupId },
          LogStreamName: { Ref: logStreamId },
        },
      });
      // Created once its role may write: Firehose checks the role when the stream is made.
      expect(r.DependsOn).toEqual(expect.arrayContaining(policyIdsOf(roleId)));
      expect(propertiesOf(archive.deliveryStream.logGroup, 'AWS::Logs::LogGroup').Properties.RetentionInDays).toBe(30);
    });

    it('its role: assumed by Firehose for this account only, holding exactly the S3 destination permissions', () => {
      const role = propertiesOf(archive.deliveryStream.role, 'AWS::IAM::Role').Properties;
      expect(role.ManagedPolicyArns).toBeUndefined();
      expect((role.AssumeRolePolicyDocument as { Statement: unknown[] }).Statement).toEqual([
        {
          Action: 'sts:AssumeRole',
          Effect: 'Allow',
          Principal: { Service: 'firehose.amazonaws.com' },
          Condition: { StringEquals: { 'sts:ExternalId': { Ref: 'AWS::AccountId' } } },
        },
      ]);
      const dataPrefix = spec.prefix.slice(0, spec.prefix.indexOf('!{'));
      const errorPrefix = spec.errorPrefix.slice(0, spec.errorPrefix.indexOf('!{'));
      expect(grantsOf(statementsOfRole(roleId)).sort()).toEqual(
        [
          ...on(['s3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads'], arnOf(bucketId)),
          ...on(['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject'], objectsArn(bucketId, `${dataPrefix}*`)),
          ...on(['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject'], objectsArn(bucketId, `${errorPrefix}*`)),
          ...on(['logs:CreateLogStream', 'logs:PutLogEvents'], arnOf(logGroupId)),
        ].sort(),
      );
    });
  });

  describe('the bucket', () => {
    const bucket = propertiesOf(archive.bucket, 'AWS::S3::Bucket');

    it('blocks all public access, S3-managed encryption, no ACLs, unversioned', () => {
      expect(bucket.Properties.PublicAccessBlockConfiguration).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      });
      expect(bucket.Properties.BucketEncryption).toEqual({
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      });
      expect(bucket.Properties.OwnershipControls).toEqual({ Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] });
      expect(bucket.Properties.VersioningConfiguration).toBeUndefined();
    });

    it('its policy denies every request without TLS', () => {
      const statements = Object.values(resourcesOf('AWS::S3::BucketPolicy'))
        .filter((p) => JSON.stringify(p.Properties.Bucket) === JSON.stringify({ Ref: bucketId }))
        .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
      expect(statements).toContainEqual({
        Action: 's3:*',
        Condition: { Bool: { 'aws:SecureTransport': 'false' } },
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Resource: [arnOf(bucketId), objectsArn(bucketId, '*')],
      });
    });

    it(`expires objects after policies/storage.json's ${storagePolicy.archive.retentionDays} days, aborts failed uploads`, () => {
      expect(storagePolicy.archive.retentionDays).not.toBeNull();
      expect(bucket.Properties.LifecycleConfiguration).toEqual({
        Rules: [
          {
            Id: 'retention',
            Status: 'Enabled',
            ExpirationInDays: storagePolicy.archive.retentionDays,
            AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 },
          },
        ],
      });
    });

    it('a retention of null keeps objects forever (still aborting failed uploads)', () => {
      const probe = new Stack(newApp(), 'Forever');
      const forever = new MeshArchives(probe, 'Archives', {
        topology,
        stage: stageSettings('prod'),
        databaseName: 'forever',
        storagePolicy: { ...storagePolicy, archive: { retentionDays: null } },
      });
      const from = Template.fromStack(probe);
      expect(
        propertiesOf(forever.archives[name].bucket, 'AWS::S3::Bucket', from, probe).Properties.LifecycleConfiguration,
      ).toEqual({
        Rules: [{ Id: 'retention', Status: 'Enabled', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } }],
      });
    });

    it('prod keeps the bucket and its objects when the stack goes; dev empties and deletes it', () => {
      expect(bucket.DeletionPolicy).toBe('Retain');
      template.resourceCountIs('Custom::S3AutoDeleteObjects', 0);
      const devBucketId = logicalId(dev.mesh.archives[name].bucket, dev);
      expect(resourcesOf('AWS::S3::Bucket', devTemplate)[devBucketId]?.DeletionPolicy).toBe('Delete');
      const emptiers = Object.values(resourcesOf('Custom::S3AutoDeleteObjects', devTemplate)).map(
        (r) => r.Properties.BucketName,
      );
      expect(emptiers).toEqual([{ Ref: devBucketId }]);
      expect(
        resourcesOf('AWS::Logs::LogGroup', devTemplate)[
          logicalId(dev.mesh.archives[name].deliveryStream.logGroup, dev)
        ],
      ).toMatchObject({ DeletionPolicy: 'Delete', Properties: { RetentionInDays: 7 } });
    });
  });

  describe('the Glue table', () => {
    const table = propertiesOf(archive.table, 'AWS::Glue::Table').Properties;
    const input = table.TableInput as Record<string, Record<string, unknown>>;
    const s3 = (path: string) => ({ 'Fn::Join': ['', ['s3://', { Ref: bucketId }, path]] });

    it("in the mesh's database, named after the archive", () => {
      const databaseId = logicalId(stack.mesh.archiving.database as IConstruct);
      expect(table.DatabaseName).toEqual({ Ref: databaseId });
      expect(resourcesOf('AWS::Glue::Database')[databaseId]?.Properties.DatabaseInput).toMatchObject({
        Name: 'telemetry_event_mesh',
      });
      expect(input.Name).toBe(snake(name));
      expect(input.TableType).toBe('EXTERNAL_TABLE');
    });

    it('projects one dt partition per hour from the prefix: no crawler, no MSCK REPAIR', () => {
      expect(spec.prefix).toContain(HOUR);
      expect(input.Parameters).toEqual({
        EXTERNAL: 'TRUE',
        classification: 'json',
        compressionType: 'gzip',
        'projection.enabled': 'true',
        'projection.dt.type': 'date',
        'projection.dt.format': 'yyyy-MM-dd-HH',
        'projection.dt.range': '2026-12-01-00,NOW',
        'projection.dt.interval': '1',
        'projection.dt.interval.unit': 'HOURS',
        // biome-ignore lint/suspicious/noTemplateCurlyInString: Athena's placeholder, not a JS template
        'storage.location.template': s3(`/${spec.prefix.replace(HOUR, '${dt}')}`),
      });
      expect(input.PartitionKeys).toEqual([expect.objectContaining({ Name: 'dt', Type: 'string' })]);
      template.resourceCountIs('AWS::Glue::Crawler', 0);
    });

    it('gzipped JSON lines through the OpenX SerDe, a string column per envelope field', () => {
      const dir = spec.prefix.slice(0, spec.prefix.lastIndexOf('/', spec.prefix.indexOf(HOUR)) + 1);
      expect(input.StorageDescriptor).toMatchObject({
        Location: s3(`/${dir}`),
        Compressed: true,
        InputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
        OutputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
        SerdeInfo: {
          SerializationLibrary: 'org.openx.data.jsonserde.JsonSerDe',
          Parameters: { 'case.insensitive': 'TRUE' },
        },
      });
      const columns = input.StorageDescriptor?.Columns as { Name: string; Type: string; Comment: string }[];
      // What the store consumer writes per line (shared/domain/archive-records.ts), lowercased as Athena sees it.
      const everyField = {
        id: 'e',
        idempotencyKey: 'k',
        type: 'device.telemetry',
        source: 's',
        occurredAt: 't',
        receivedAt: 't',
        principalId: 'p',
        traceId: 't',
        correlationId: 'c',
        data: {},
      };
      const line = Object.keys(JSON.parse(archiveLine(everyField, 't')));
      expect(columns.map((c) => c.Name)).toEqual(line.map((k) => k.toLowerCase()));
      expect(line).toContain('archivedAt');
      expect(new Set(columns.map((c) => c.Type))).toEqual(new Set(['string']));
      for (const c of columns) expect(c.Comment.length, c.Name).toBeLessThanOrEqual(255);
    });
  });

  describe('who may put records', () => {
    const writers = functionNames.filter((fn) =>
      topology.functions[fn].bindings.some((b) => b.resource === name && b.access !== 'describe'),
    );

    it('the topology has storeEvents write it, with the delivery stream name in ARCHIVE_DELIVERY_STREAM_NAME', () => {
      expect(writers).toEqual(['storeEvents']);
      const variables = (
        propertiesOf(stack.functions.storeEvents, 'AWS::Lambda::Function').Properties.Environment as {
          Variables: Record<string, unknown>;
        }
      ).Variables;
      expect(variables.ARCHIVE_DELIVERY_STREAM_NAME).toEqual({ Ref: streamId });
    });

    it('storeEvents: exactly PutRecord and PutRecordBatch on the delivery stream; no firehose:*, no *, no S3', () => {
      const grants = grantsOf(statementsOfRole(functionRoleId('storeEvents')));
      expect(grants.filter((g) => g.startsWith('firehose:'))).toEqual(
        on(['firehose:PutRecord', 'firehose:PutRecordBatch'], arnOf(streamId)),
      );
      expect(grants.filter((g) => g.startsWith('s3:') || g.includes(`"${bucketId}"`))).toEqual([]);
      // The only grant on * is X-Ray's (test/infra/stack.test.ts).
      expect(grants.filter((g) => g.endsWith(' on "*"') && !g.startsWith('xray:'))).toEqual([]);
    });

    it.each(functionNames.filter((fn) => fn !== 'storeEvents'))('%s: no Firehose action at all', (fn) => {
      expect(grantsOf(statementsOfRole(functionRoleId(fn))).filter((g) => g.startsWith('firehose:'))).toEqual([]);
    });

    it('no policy of the stack allows firehose:* or a Firehose action on *', () => {
      const all = Object.values(resourcesOf('AWS::IAM::Policy')).flatMap((p) =>
        grantsOf((p.Properties.PolicyDocument as { Statement: Statement[] }).Statement),
      );
      expect(
        all.filter((g) => g.startsWith('firehose:*') || (g.startsWith('firehose:') && g.endsWith(' on "*"'))),
      ).toEqual([]);
      expect(
        all.filter((g) => g.startsWith('firehose:')).every((g) => g.endsWith(JSON.stringify(arnOf(streamId)))),
      ).toBe(true);
    });

    it('a read binding: ListBucket on the bucket and GetObject under the data prefix, nothing else; nag-clean', () => {
      const variant = {
        ...topology,
        functions: {
          ...topology.functions,
          healthz: {
            ...topology.functions.healthz,
            bindings: [...topology.functions.healthz.bindings, { resource: name, env: 'ARCHIVE', access: 'read' }],
          },
        },
      } as unknown as typeof topology;
      const reader = meshStack('Reader', { topology: variant });
      const from = Template.fromStack(reader);
      const id = logicalId(reader.mesh.archives[name].bucket, reader);
      const dataPrefix = spec.prefix.slice(0, spec.prefix.indexOf('!{'));
      const grants = grantsOf(statementsOfRole(functionRoleId('healthz', from, reader), from));
      expect(grants.filter((g) => g.startsWith('s3:') || g.startsWith('firehose:') || g.includes(`"${id}"`))).toEqual([
        ...on(['s3:ListBucket'], arnOf(id)),
        ...on(['s3:GetObject'], objectsArn(id, `${dataPrefix}*`)),
      ]);
      const report = new AwsSolutionsChecks(undefined, { verbose: false }).validateScope(reader);
      expect(report.violations.map((v) => v.ruleName)).toEqual([]);
    });
  });

  describe('alarms (ALARM and OK to the alarm topic)', () => {
    const alarmTopic = { Ref: logicalId(stack.mesh.alarmTopic) };
    const onStream = Object.values(resourcesOf('AWS::CloudWatch::Alarm'))
      .map((a) => a.Properties)
      .filter(
        (a) =>
          JSON.stringify(a.Dimensions) === JSON.stringify([{ Name: 'DeliveryStreamName', Value: { Ref: streamId } }]),
      );
    const common = {
      Namespace: 'AWS/Firehose',
      Period: 300,
      EvaluationPeriods: 1,
      DatapointsToAlarm: 1,
      TreatMissingData: 'notBreaching',
      AlarmActions: [alarmTopic],
      OKActions: [alarmTopic],
    };

    it('exactly two on its delivery stream', () => {
      expect(onStream.map((a) => a.MetricName).sort()).toEqual(['DeliveryToS3.DataFreshness', 'DeliveryToS3.Success']);
    });

    it('data freshness: the oldest undelivered record older than 15 minutes (and two buffer intervals)', () => {
      expect(onStream.find((a) => a.MetricName === 'DeliveryToS3.DataFreshness')).toMatchObject({
        ...common,
        Statistic: 'Maximum',
        Threshold: Math.max(900, 2 * spec.bufferIntervalSeconds),
        ComparisonOperator: 'GreaterThanThreshold',
      });
      // Well above what a healthy delivery takes: the buffer interval.
      expect(Math.max(900, 2 * spec.bufferIntervalSeconds)).toBeGreaterThan(spec.bufferIntervalSeconds);
    });

    it('failed deliveries: the share of successful S3 puts below 1', () => {
      expect(onStream.find((a) => a.MetricName === 'DeliveryToS3.Success')).toMatchObject({
        ...common,
        Statistic: 'Average',
        Threshold: 1,
        ComparisonOperator: 'LessThanThreshold',
      });
    });
  });

  describe('outputs and cdk-nag', () => {
    it('the delivery stream under the archive name; bucket, database and table beside it', () => {
      const outputs = template.findOutputs('*');
      expect(outputs[name]?.Value).toEqual({ Ref: streamId });
      expect(outputs[`${name}Bucket`]?.Value).toEqual({ Ref: bucketId });
      expect(outputs[`${name}Database`]?.Value).toBe('telemetry_event_mesh');
      expect(outputs[`${name}Table`]?.Value).toBe(tableInput().Name);
    });

    it('acknowledges S1 on the bucket and IAM5 on the exact object prefixes of the delivery role, nothing more', () => {
      expect(acknowledgedIdsOf(archive.bucket)).toEqual(['AwsSolutions-S1']);
      const prefixes = [...new Set([spec.prefix, spec.errorPrefix].map((p) => p.slice(0, p.indexOf('!{'))))];
      expect(acknowledgedIdsOf(archive.deliveryStream.role).sort()).toEqual(
        prefixes.map((p) => `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/${p}*]`).sort(),
      );
      expect(acknowledgedIdsOf(archive.deliveryStream)).toEqual([]);
    });
  });
});

describe('archive layouts the catalog cannot project fail synth', () => {
  const [name] = archiveNames;
  if (!name) throw new Error('the topology has no archive');
  it.each([
    ['another date pattern', 'events/!{timestamp:yyyy/MM/dd/HH}/'],
    ['something after the hour', `events/dt=${HOUR}/raw/`],
    ['two expressions', `events/!{timestamp:yyyy}/dt=${HOUR}/`],
  ])('%s: %s', (_what, prefix) => {
    const bad = {
      ...topology,
      archives: { ...topology.archives, [name]: { ...topology.archives[name], prefix } },
    } as typeof topology;
    expect(() => meshStack('Bad', { topology: bad })).toThrow(
      new RegExp(`archive ${name}: prefix .* is not <fixed part>!\\{timestamp:yyyy-MM-dd-HH\\}/`),
    );
  });
});

describe('Glue database names', () => {
  it("carry the stack name and, but for the default prefix, the mesh's prefix", () => {
    expect(new MeshNames('tem', 'tem', 'TelemetryEventMesh').glueDatabase()).toBe('telemetry_event_mesh');
    expect(new MeshNames('fleet', 'tem', 'Embedding').glueDatabase()).toBe('embedding_fleet');
    expect(new MeshNames('my-orders', 'tem', 'Shop-Stack').glueDatabase()).toBe('shop_stack_my_orders');
  });
});

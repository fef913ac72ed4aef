import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { App, Duration, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { addNagChecks, TelemetryEventMesh } from 'telemetry-event-mesh';

const HERE = path.dirname(fileURLToPath(import.meta.url));

export interface EmbeddingStackProps extends StackProps {
  /** Where the meshes' function entries are (tests pass a stand-in); this package by default. */
  repoRoot?: string;
}

/**
 * A stack of a user's own holding two meshes next to a resource of its own: `orders` takes business events over
 * HTTP only (no IoT, polling consumers, a dev stage), `fleet` takes device telemetry too (prod, a provisioned
 * stream, its own alert rules). Their prefixes keep every fixed name apart, so both live in one account and region.
 *
 *   npx cdk synth --app 'npx tsx examples/embed/app.ts'
 */
export class EmbeddingStack extends Stack {
  readonly orders: TelemetryEventMesh;
  readonly fleet: TelemetryEventMesh;
  /** The user's own queue, which the meshes know nothing about. */
  readonly inbox: sqs.Queue;

  constructor(scope: Construct, id: string, props: EmbeddingStackProps = {}) {
    super(scope, id, props);
    const { repoRoot } = props;
    this.orders = new TelemetryEventMesh(this, 'Orders', {
      namePrefix: 'orders',
      stage: 'dev',
      iot: false,
      enhancedFanOut: false,
      ...(repoRoot ? { repoRoot } : {}),
    });
    this.fleet = new TelemetryEventMesh(this, 'Fleet', {
      namePrefix: 'fleet',
      stage: 'prod',
      streamCapacity: 'provisioned',
      shardCount: 2,
      alertRulesFile: path.join(HERE, 'alert-rules.json'),
      ...(repoRoot ? { repoRoot } : {}),
    });

    const inboxDeadLetters = new sqs.Queue(this, 'InboxDeadLetters', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    Validations.of(inboxDeadLetters).acknowledge({
      id: 'AwsSolutions-SQS3',
      reason: 'The dead-letter queue of Inbox itself.',
    });
    this.inbox = new sqs.Queue(this, 'Inbox', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      deadLetterQueue: { queue: inboxDeadLetters, maxReceiveCount: 5 },
    });
  }
}

export function synthesizeExample(app = new App()): App {
  new EmbeddingStack(app, 'TemEmbedExample');
  addNagChecks(app);
  app.synth();
  return app;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) synthesizeExample();

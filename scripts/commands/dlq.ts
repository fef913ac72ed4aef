import { KinesisClient } from '@aws-sdk/client-kinesis';
import {
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  ReceiveMessageCommand,
  SQSClient,
  StartMessageMoveTaskCommand,
} from '@aws-sdk/client-sqs';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { QueueName } from '../../infra/topology';
import { topology } from '../../infra/topology';
import { KinesisOnFailureRecord, StreamReplayer, streamNameOf } from '../../shared/aws/stream-replay';
import { isPoisonRecordMessage } from '../../shared/domain/poison-records';
import { parseCommand } from '../lib/args';
import { CliError, helpIfAsked, result } from '../lib/output';
import { readLocalState } from '../lib/state';
import { clientConfig } from '../lib/stores';

const USAGE =
  'usage: tem dlq peek [--queue eventsDlq] [--max 1..10] | tem dlq replay [--queue eventsDlq] [--max N] | ' +
  'tem dlq redrive --queue <delivery queue>';

/** Which queues hold stream on-failure records: the consumers' on-failure destinations. */
const streamDlqs = [...new Set(topology.streamConsumers.map((c) => c.onFailure))];

/**
 * `tem dlq peek` shows what waits in a dead-letter queue without taking it; `tem dlq replay` re-drives stream
 * on-failure records: it reads the records they point at from the stream and writes them to the stream again, then
 * deletes the message. Run it after fixing the cause. Consumers recognise event ids they applied before (the store by
 * key, metrics per bucket, alerts among the last 32 readings of a device and rule), so a replay does not double-count.
 */
export async function runDlq(args: string[]): Promise<void> {
  helpIfAsked(args, USAGE);
  const [action, ...rest] = args;
  if (action !== 'peek' && action !== 'replay' && action !== 'redrive') throw new CliError(USAGE, 2);
  const parsed = parseCommand(rest, { usage: USAGE, options: { queue: { type: 'string' }, max: { type: 'string' } } });
  if (parsed.positionals.length > 0) throw new CliError(USAGE, 2);
  const queue = (parsed.values.queue ?? 'eventsDlq') as QueueName;
  if (!Object.hasOwn(topology.queues, queue))
    throw new CliError(`unknown queue ${queue}; queues: ${Object.keys(topology.queues).join(', ')}`, 2);
  const maxFlag = parsed.values.max;
  const max = maxFlag === undefined ? (action === 'peek' ? 10 : 100) : Number(maxFlag);
  if (!Number.isInteger(max) || max < 1 || max > 10_000) throw new CliError('--max must be 1..10000', 2);
  const info = readLocalState();
  const queueUrl = info.resources[queue];
  const sqs = new SQSClient(clientConfig(info, 'sqs'));
  try {
    if (action === 'redrive') return result(await redrive(sqs, queue, queueUrl, info.deadLetterQueues?.[queue]));
    // A peek leaves messages visible, so SQS hands back the same first ones each time: it shows at most 10.
    if (action === 'peek' && max > 10) throw new CliError('peek shows at most 10 messages (--max 1..10)', 2);
    if (action === 'peek') return result(await peek(sqs, queueUrl, max));
    if (!streamDlqs.includes(queue))
      throw new CliError(`replay re-drives stream on-failure records; ${queue} holds other messages (peek it)`, 2);
    const kinesis = new KinesisClient({ ...clientConfig(info, 'kinesis'), requestHandler: new NodeHttpHandler() });
    try {
      return result(await replay(sqs, new StreamReplayer(kinesis), queueUrl, max));
    } finally {
      kinesis.destroy();
    }
  } finally {
    sqs.destroy();
  }
}

/**
 * Moves the messages of a delivery queue's dead-letter queue back into the queue (SQS `StartMessageMoveTask`, the
 * console's "start DLQ redrive"), for its consumer to try again: after fixing what made it fail, e.g. a long stream
 * outage that outlasted the rule error redrive's retries. Waits for the move to finish.
 */
async function redrive(sqs: SQSClient, queue: QueueName, queueUrl: string, deadLetterUrl: string | undefined) {
  if (topology.queues[queue].kind !== 'delivery')
    throw new CliError(`${queue} is an errorSink queue: it has no dead-letter queue to redrive from`, 2);
  if (!deadLetterUrl) throw new CliError(`the state file lists no dead-letter queue of ${queue}`, 2);
  const arnOf = async (url: string) => {
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }),
    );
    if (!Attributes?.QueueArn) throw new CliError(`no ARN for ${url}`, 1);
    return Attributes.QueueArn;
  };
  const [source, destination] = await Promise.all([arnOf(deadLetterUrl), arnOf(queueUrl)]);
  const { ApproximateNumberOfMessages } = (
    await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: deadLetterUrl, AttributeNames: ['ApproximateNumberOfMessages'] }),
    )
  ).Attributes ?? { ApproximateNumberOfMessages: '0' };
  if (Number(ApproximateNumberOfMessages ?? 0) === 0) return { queue, deadLetterQueue: deadLetterUrl, moved: 0 };
  await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: source, DestinationArn: destination }));
  for (let waited = 0; waited < 120; waited++) {
    const { Results } = await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: source, MaxResults: 1 }));
    const task = Results?.[0];
    if (task && task.Status !== 'RUNNING') {
      if (task.Status !== 'COMPLETED') throw new CliError(`redrive ${task.Status}: ${task.FailureReason ?? ''}`, 1);
      return { queue, deadLetterQueue: deadLetterUrl, moved: task.ApproximateNumberOfMessagesMoved ?? 0 };
    }
    process.stderr.write(`moving: ${task?.ApproximateNumberOfMessagesMoved ?? 0} of ${ApproximateNumberOfMessages}\n`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw new CliError('the redrive did not finish within 2 minutes; see ListMessageMoveTasks', 1);
}

async function peek(sqs: SQSClient, queueUrl: string, max: number) {
  const { Messages } = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: queueUrl,
      MaxNumberOfMessages: Math.min(10, max),
      VisibilityTimeout: 0,
      WaitTimeSeconds: 1,
    }),
  );
  // Visibility 0 leaves each message visible, and the local engine may then hand one message out several times in a
  // single receive: show each once.
  const unique = [...new Map((Messages ?? []).map((m) => [m.MessageId, m])).values()];
  return { queue: queueUrl, messages: unique.map((m) => JSON.parse(m.Body ?? 'null') as unknown) };
}

async function replay(sqs: SQSClient, replayer: StreamReplayer, queueUrl: string, max: number) {
  let messages = 0;
  let replayedRecords = 0;
  const skipped: { messageId: string | undefined; reason: string }[] = [];
  const seen = new Set<string>();
  while (messages + skipped.length < max) {
    const { Messages } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        VisibilityTimeout: 60,
        WaitTimeSeconds: 1,
      }),
    );
    const fresh = (Messages ?? []).filter((m) => !seen.has(m.MessageId ?? ''));
    if (fresh.length === 0) break;
    for (const message of fresh) {
      seen.add(message.MessageId ?? '');
      const body = JSON.parse(message.Body ?? 'null') as unknown;
      if (isPoisonRecordMessage(body)) {
        // Kept: replaying a record that can never be processed would only park it again.
        skipped.push({ messageId: message.MessageId, reason: `poison record, not replayable: ${body.reason}` });
        continue;
      }
      const parsed = KinesisOnFailureRecord.safeParse(body);
      if (!parsed.success) {
        skipped.push({ messageId: message.MessageId, reason: 'not a stream on-failure record' });
        continue;
      }
      const batch = parsed.data.KinesisBatchInfo;
      const records = await replayer.readRange(batch);
      if (records.length === 0) {
        // Kept in the queue: the records are past the stream's retention, or the range is wrong; a person decides.
        skipped.push({ messageId: message.MessageId, reason: 'records no longer in the stream' });
        continue;
      }
      const written = await replayer.replay(streamNameOf(batch.streamArn), records);
      if (written < records.length) {
        skipped.push({ messageId: message.MessageId, reason: `only ${written} of ${records.length} records written` });
        continue;
      }
      await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: message.ReceiptHandle }));
      messages++;
      replayedRecords += written;
      process.stdout.write(`replayed ${written} record(s) of ${batch.shardId} from ${batch.startSequenceNumber}\n`);
    }
  }
  return { queue: queueUrl, messages, replayedRecords, skipped };
}

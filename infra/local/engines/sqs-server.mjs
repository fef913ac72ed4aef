// Runs local-aws-sqs as its own process, so an SQS crash or restart never touches the gateway.
import { createSqsServer } from 'local-aws-sqs';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: sqs-server.mjs <port>');
  process.exit(2);
}
await createSqsServer({
  port,
  hostname: '127.0.0.1',
  // The account the other local ARNs use (infra/local/provision.ts LOCAL_ACCOUNT).
  accountId: '000000000000',
  region: 'us-east-1',
  emulateQueueCreationLifecycle: false,
  validateDlqDestination: true,
});
console.log(`sqs listening on ${port}`);

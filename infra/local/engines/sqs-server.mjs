// Runs local-aws-sqs as its own process, so an SQS crash or restart never touches the gateway.
import { createSqsServer } from 'local-aws-sqs';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) {
  console.error('usage: sqs-server.mjs <port>');
  process.exit(2);
}
const server = await createSqsServer({
  port,
  hostname: '127.0.0.1',
  // The account the other local ARNs use (infra/local/provision.ts LOCAL_ACCOUNT).
  accountId: '000000000000',
  region: 'us-east-1',
  emulateQueueCreationLifecycle: false,
  validateDlqDestination: true,
});
// The engine keeps its queues in memory: an outage (fault injection) closes the port and opens it again, so the
// messages survive it as they survive an outage of SQS itself. Told over the IPC channel by infra/local/engines.ts.
process.on('message', (command) => {
  if (command === 'pause') {
    server.close();
    server.closeAllConnections();
    process.send?.('paused');
  } else if (command === 'resume') {
    if (server.listening) process.send?.('resumed');
    else server.listen(port, '127.0.0.1', () => process.send?.('resumed'));
  }
});
console.log(`sqs listening on ${port}`);

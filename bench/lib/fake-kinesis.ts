import { createServer, type Server } from 'node:http';

/**
 * A Kinesis endpoint that costs (almost) nothing: every PutRecords is answered at once with success for each record
 * (awsJson1_1), so what a handler spends around it is the handler's own cost. It runs in the parent process, the
 * handler in a child: the child's CPU account holds no server work.
 */
export async function startFakeKinesis(): Promise<{
  url: string;
  calls: () => number;
  records: () => number;
  close: () => Promise<void>;
}> {
  let calls = 0;
  let records = 0;
  let sequence = 0;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const target = String(req.headers['x-amz-target'] ?? '');
      if (!target.endsWith('.PutRecords')) {
        res.writeHead(400, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify({ __type: 'UnknownOperationException', message: `fake kinesis: ${target}` }));
        return;
      }
      const n = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { Records: unknown[] }).Records.length;
      calls++;
      records += n;
      const answer = {
        FailedRecordCount: 0,
        Records: Array.from({ length: n }, () => ({
          SequenceNumber: String(++sequence),
          ShardId: 'shardId-000000000000',
        })),
      };
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1', 'x-amzn-requestid': `fake-${calls}` });
      res.end(JSON.stringify(answer));
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    calls: () => calls,
    records: () => records,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

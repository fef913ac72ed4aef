import { createServer, type Server } from 'node:http';

/**
 * The IoT data plane's Publish API (`POST /topics/{topic}?qos=`), as `@aws-sdk/client-iot-data-plane` calls it:
 * functions publish to devices through it (alerts), and the message reaches subscribers of the local broker.
 */
export class IotDataPlane {
  private server: Server | undefined;
  published = 0;

  constructor(private readonly publish: (topic: string, payload: Buffer, qos: 0 | 1) => Promise<void>) {}

  listen(): Promise<number> {
    const server = createServer((req, res) => {
      const reply = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      const url = new URL(req.url ?? '/', 'http://localhost');
      if (req.method !== 'POST' || !url.pathname.startsWith('/topics/')) return reply(404, { message: 'Not Found' });
      const topic = decodeURIComponent(url.pathname.slice('/topics/'.length));
      const qos = url.searchParams.get('qos') === '1' ? 1 : 0;
      if (topic === '' || topic.includes('+') || topic.includes('#') || topic.startsWith('$'))
        return reply(400, { message: `invalid topic ${topic}` });
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        this.publish(topic, Buffer.concat(chunks), qos).then(
          () => {
            this.published++;
            reply(200, {});
          },
          (error: Error) => reply(500, { message: error.message }),
        );
      });
    });
    this.server = server;
    return new Promise((resolve) => {
      server.listen(0, '127.0.0.1', () => {
        const address = server.address();
        resolve(typeof address === 'object' && address ? address.port : 0);
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

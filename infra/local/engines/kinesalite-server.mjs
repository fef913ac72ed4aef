// Runs kinesalite as its own process, listening on loopback only: its CLI binds every interface, and an engine
// without authentication must not be reachable from the network (anyone could forge stream records).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const kinesalite = require('kinesalite');

const [port, path, shardLimit] = process.argv.slice(2);
if (!Number(port) || !path) {
  console.error('usage: kinesalite-server.mjs <port> <data dir> [shard limit]');
  process.exit(2);
}
const server = kinesalite({
  path,
  createStreamMs: 0,
  deleteStreamMs: 0,
  updateStreamMs: 0,
  shardLimit: Number(shardLimit ?? 100),
});
server.listen(Number(port), '127.0.0.1', () => console.log(`kinesalite listening on 127.0.0.1:${port}`));

// A minimal Amazon S3 as its own process: path-style REST (`/<bucket>/<key>`), no authentication (SigV4 headers are
// accepted and ignored), so it listens on loopback only. Objects live on disk under the data dir (s3-store.mjs): they
// survive a pause, a restart and a crash. Usage: node s3-server.mjs <port> <data dir>
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import { pipeline } from 'node:stream/promises';
import { S3Store } from './s3-store.mjs';
import {
  byteRange,
  decodeAwsChunked,
  NS,
  parseDeleteKeys,
  readBody,
  S3Error,
  tags,
  validBucket,
  verifyChecksums,
} from './s3-wire.mjs';

const [portArg, dataDir] = process.argv.slice(2);
const port = Number(portArg);
if (!Number.isInteger(port) || port <= 0 || !dataDir) {
  console.error('usage: s3-server.mjs <port> <data dir>');
  process.exit(2);
}

const MAX_OBJECT = 64 * 1024 * 1024;
/** An aws-chunked body carries its framing on top of the object. */
const MAX_RAW = MAX_OBJECT + 1024 * 1024;
/** The XML bodies of bucket operations (CreateBucket's configuration, DeleteObjects' 1000 keys). */
const MAX_CONTROL = 2 * 1024 * 1024;
const KEPT_HEADERS = ['content-type', 'cache-control', 'content-disposition', 'content-language', 'expires'];
const OWNER = '<Owner><ID>000000000000</ID><DisplayName>local</DisplayName></Owner>';
const LIST_PARAMS = ['list-type', 'prefix', 'delimiter', 'max-keys', 'continuation-token', 'start-after', 'marker'];

const store = new S3Store(dataDir);
await store.open();

const fail = (status, code, message, extra) => new S3Error(status, code, message, extra);
const noSuchBucket = (bucket) =>
  fail(404, 'NoSuchBucket', 'The specified bucket does not exist', { BucketName: bucket });
const tooLarge = () => fail(400, 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size');
const invalidArgument = (message) => fail(400, 'InvalidArgument', message);

/** Refuses a query naming a subresource this S3 does not implement (acl, versioning, uploads, tagging, …). */
function only(query, allowed) {
  for (const name of query.keys()) {
    if (!allowed.includes(name) && !name.startsWith('response-')) {
      throw fail(
        501,
        'NotImplemented',
        `A request parameter you provided implies functionality that is not implemented: ${name}`,
      );
    }
  }
}

function decode(segment) {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw fail(400, 'InvalidURI', "Couldn't parse the specified URI.");
  }
}

function sendXml(res, body, status = 200) {
  const text = `<?xml version="1.0" encoding="UTF-8"?>\n${body}`;
  res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(req, res, error) {
  const known = error instanceof S3Error;
  if (!known) console.error('s3: internal error', error);
  const e = known ? error : fail(500, 'InternalError', 'We encountered an internal error. Please try again.');
  if (res.headersSent) return res.destroy();
  // A body not read yet (a refused upload) is not waited for: the connection ends with the answer.
  if (!req.complete) res.setHeader('connection', 'close');
  if (req.method === 'HEAD') return res.writeHead(e.status).end();
  const requestId = res.getHeader('x-amz-request-id');
  sendXml(
    res,
    `<Error>${tags({ Code: e.code, Message: e.message, ...e.extra, RequestId: requestId })}</Error>`,
    e.status,
  );
}

async function handle(req, res, continued = false) {
  res.setHeader('x-amz-request-id', randomBytes(8).toString('hex').toUpperCase());
  res.setHeader('x-amz-id-2', randomBytes(24).toString('base64'));
  res.setHeader('server', 'AmazonS3');
  try {
    const decoded = Number(req.headers['x-amz-decoded-content-length'] ?? 0);
    if (decoded > MAX_OBJECT || Number(req.headers['content-length'] ?? 0) > MAX_RAW) throw tooLarge();
    if (continued) res.writeContinue();
    await route(req, res);
  } catch (error) {
    sendError(req, res, error);
  }
}

function route(req, res) {
  const q = req.url.indexOf('?');
  const rawPath = q < 0 ? req.url : req.url.slice(0, q);
  const query = new URLSearchParams(q < 0 ? '' : req.url.slice(q + 1));
  query.delete('x-id'); // the SDK names the operation in the query; the method and subresource say it already
  if (!rawPath.startsWith('/')) throw fail(400, 'InvalidURI', "Couldn't parse the specified URI.");
  const slash = rawPath.indexOf('/', 1);
  const bucket = decode(slash < 0 ? rawPath.slice(1) : rawPath.slice(1, slash));
  const key = slash < 0 ? '' : decode(rawPath.slice(slash + 1));
  const method = req.method;
  if (bucket === '') {
    if (method !== 'GET') throw fail(405, 'MethodNotAllowed', 'The specified method is not allowed');
    only(query, ['prefix', 'max-buckets', 'continuation-token', 'bucket-region']);
    return listBuckets(res, query.get('prefix') ?? '');
  }
  if (!validBucket(bucket))
    throw fail(400, 'InvalidBucketName', 'The specified bucket is not valid.', { BucketName: bucket });
  if (key === '') {
    if (method === 'GET' && query.has('location')) return sendXml(res, `<LocationConstraint xmlns="${NS}"/>`);
    if (method === 'POST' && query.has('delete')) return deleteObjects(req, res, bucket, query);
    if (method === 'GET') {
      only(query, [...LIST_PARAMS, 'encoding-type', 'fetch-owner']);
      return listObjects(res, bucket, query);
    }
    only(query, []);
    if (method === 'PUT') return createBucket(req, res, bucket);
    if (method === 'HEAD') {
      if (!store.has(bucket)) throw noSuchBucket(bucket);
      return res.writeHead(200, { 'x-amz-bucket-region': 'us-east-1' }).end();
    }
    if (method === 'DELETE') return deleteBucket(res, bucket);
  } else {
    if (Buffer.byteLength(key) > 1024) throw fail(400, 'KeyTooLongError', 'Your key is too long');
    only(query, []);
    if (method === 'PUT' && req.headers['x-amz-copy-source'] !== undefined) {
      throw fail(501, 'NotImplemented', 'CopyObject is not implemented');
    }
    if (method === 'PUT') return putObject(req, res, bucket, key);
    if (method === 'GET' || method === 'HEAD') return getObject(req, res, bucket, key, query);
    if (method === 'DELETE') return deleteObject(res, bucket, key);
  }
  throw fail(405, 'MethodNotAllowed', 'The specified method is not allowed against this resource.');
}

function listBuckets(res, prefix) {
  const buckets = store
    .listBuckets()
    .filter((b) => b.name.startsWith(prefix))
    .map((b) => `<Bucket>${tags({ Name: b.name, CreationDate: b.created, BucketRegion: 'us-east-1' })}</Bucket>`);
  sendXml(
    res,
    `<ListAllMyBucketsResult xmlns="${NS}">${OWNER}<Buckets>${buckets.join('')}</Buckets></ListAllMyBucketsResult>`,
  );
}

async function createBucket(req, res, bucket) {
  await readBody(req, MAX_CONTROL); // an optional CreateBucketConfiguration: one region here
  await store.createBucket(bucket); // an existing bucket of ours is fine (us-east-1's legacy answer)
  res.writeHead(200, { location: `/${bucket}` }).end();
}

async function deleteBucket(res, bucket) {
  const outcome = await store.deleteBucket(bucket);
  if (outcome === 'missing') throw noSuchBucket(bucket);
  if (outcome === 'not-empty') {
    throw fail(409, 'BucketNotEmpty', 'The bucket you tried to delete is not empty', { BucketName: bucket });
  }
  res.writeHead(204).end();
}

async function putObject(req, res, bucket, key) {
  if (!store.has(bucket)) throw noSuchBucket(bucket);
  const encodings = String(req.headers['content-encoding'] ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter(Boolean);
  const chunked =
    encodings.includes('aws-chunked') || String(req.headers['x-amz-content-sha256']).startsWith('STREAMING-');
  const raw = await readBody(req, chunked ? MAX_RAW : MAX_OBJECT);
  const { body, trailers } = chunked ? decodeAwsChunked(raw) : { body: raw, trailers: {} };
  if (body.length > MAX_OBJECT) throw tooLarge();
  const declared = req.headers['x-amz-decoded-content-length'];
  if (chunked && declared !== undefined && Number(declared) !== body.length) {
    throw fail(
      400,
      'IncompleteBody',
      'You did not provide the number of bytes specified by x-amz-decoded-content-length',
    );
  }
  const checksum = verifyChecksums(req.headers, trailers, body);
  if (req.headers['if-none-match'] === '*' && store.head(bucket, key)) {
    throw fail(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', {
      Condition: 'If-None-Match',
    });
  }
  const headers = { 'content-type': 'binary/octet-stream' };
  for (const [name, value] of Object.entries(req.headers)) {
    if (KEPT_HEADERS.includes(name) || name.startsWith('x-amz-meta-')) headers[name] = value;
  }
  const contentEncoding = encodings.filter((e) => e !== 'aws-chunked').join(',');
  if (contentEncoding) headers['content-encoding'] = contentEncoding;
  const meta = await store.put(bucket, key, body, { headers, checksum });
  if (!meta) throw noSuchBucket(bucket);
  res.writeHead(200, { etag: meta.etag, ...(checksum && { [checksum.header]: checksum.value }) }).end();
}

async function getObject(req, res, bucket, key, query) {
  if (!store.has(bucket)) throw noSuchBucket(bucket);
  const head = req.method === 'HEAD';
  const opened = head ? { meta: store.head(bucket, key) } : await store.openBody(bucket, key);
  if (!opened?.meta) throw fail(404, 'NoSuchKey', 'The specified key does not exist.', { Key: key });
  const { meta, handle } = opened;
  try {
    const range = byteRange(req.headers.range, meta.size);
    const headers = { ...meta.headers, etag: meta.etag, 'last-modified': new Date(meta.lastModified).toUTCString() };
    for (const [name, value] of query) if (name.startsWith('response-')) headers[name.slice(9)] = value;
    headers['accept-ranges'] = 'bytes';
    headers['content-length'] = range ? range.end - range.start + 1 : meta.size;
    if (range) headers['content-range'] = `bytes ${range.start}-${range.end}/${meta.size}`;
    // The whole object's checksum, asked for by SDK v3 (x-amz-checksum-mode) and checked by it against the body.
    if (meta.checksum && !range && req.headers['x-amz-checksum-mode'] === 'ENABLED') {
      headers[meta.checksum.header] = meta.checksum.value;
    }
    res.writeHead(range ? 206 : 200, headers);
    if (head) return res.end();
    await pipeline(handle.createReadStream({ ...range, autoClose: false }), res);
  } finally {
    await handle?.close().catch(() => {});
  }
}

async function deleteObject(res, bucket, key) {
  if (!store.has(bucket)) throw noSuchBucket(bucket);
  await store.remove(bucket, key);
  res.writeHead(204).end();
}

async function deleteObjects(req, res, bucket, query) {
  only(query, ['delete']);
  if (!store.has(bucket)) throw noSuchBucket(bucket);
  const body = await readBody(req, MAX_CONTROL);
  // As S3: a batch delete must carry a digest (SDK v3 sends a flexible checksum).
  if (!verifyChecksums(req.headers, {}, body) && req.headers['content-md5'] === undefined) {
    throw fail(400, 'InvalidRequest', 'Missing required header for this request: Content-MD5');
  }
  const { keys, quiet } = parseDeleteKeys(body);
  for (const key of keys) await store.remove(bucket, key);
  const deleted = quiet ? '' : keys.map((key) => `<Deleted>${tags({ Key: key })}</Deleted>`).join('');
  sendXml(res, `<DeleteResult xmlns="${NS}">${deleted}</DeleteResult>`);
}

function listObjects(res, bucket, query) {
  if (!store.has(bucket)) throw noSuchBucket(bucket);
  const v2 = query.get('list-type') === '2';
  if (query.has('list-type') && !v2) throw invalidArgument('Invalid List Type specified in Request');
  const maxParam = query.get('max-keys') ?? '1000';
  if (!/^\d{1,10}$/.test(maxParam)) throw invalidArgument('Provided max-keys not an integer or within integer range');
  const maxKeys = Math.min(Number(maxParam), 1000);
  const encoding = query.get('encoding-type') ?? undefined;
  if (encoding !== undefined && encoding !== 'url')
    throw invalidArgument('Invalid Encoding Method specified in Request');
  const enc = (s) => (encoding && s !== undefined ? encodeURIComponent(s).replace(/%2F/g, '/') : s);
  const prefix = query.get('prefix') ?? '';
  const delimiter = query.get('delimiter') ?? '';
  const token = query.get('continuation-token') ?? undefined;
  let after = (v2 ? query.get('start-after') : query.get('marker')) ?? '';
  let skip;
  if (v2 && token !== undefined) {
    // The token names the last key (K) or common prefix (P) of the previous page.
    const marker = Buffer.from(token, 'base64url').toString('utf8');
    if (!/^[KP]/s.test(marker)) throw invalidArgument('The continuation token provided is incorrect');
    after = marker.slice(1);
    if (marker[0] === 'P') skip = after;
  } else if (!v2 && delimiter && after.endsWith(delimiter)) skip = after;
  const page = store.list(bucket, { prefix, delimiter, after, skip, maxKeys });
  const next = page.truncated && page.last;
  const contents = page.contents.map((o) => {
    const fields = tags({ Key: enc(o.key), LastModified: o.lastModified, ETag: o.etag, Size: o.size });
    return `<Contents>${fields}<StorageClass>STANDARD</StorageClass>${v2 && query.get('fetch-owner') !== 'true' ? '' : OWNER}</Contents>`;
  });
  const prefixes = page.prefixes.map((p) => `<CommonPrefixes>${tags({ Prefix: enc(p) })}</CommonPrefixes>`);
  const head = tags({
    Name: bucket,
    Prefix: enc(prefix),
    Delimiter: enc(delimiter),
    MaxKeys: maxKeys,
    EncodingType: encoding,
    IsTruncated: page.truncated,
    ...(v2
      ? {
          KeyCount: page.contents.length + page.prefixes.length,
          ContinuationToken: token,
          NextContinuationToken: next
            ? Buffer.from(next.key !== undefined ? `K${next.key}` : `P${next.prefix}`).toString('base64url')
            : undefined,
          StartAfter: enc(query.get('start-after') ?? undefined),
        }
      : {
          Marker: enc(query.get('marker') ?? ''),
          NextMarker: next && delimiter ? enc(next.key ?? next.prefix) : undefined,
        }),
  });
  sendXml(res, `<ListBucketResult xmlns="${NS}">${head}${contents.join('')}${prefixes.join('')}</ListBucketResult>`);
}

const server = http.createServer((req, res) => handle(req, res));
// An upload that asks first (Expect: 100-continue) is refused before its body when it is too large.
server.on('checkContinue', (req, res) => handle(req, res, true));
server.on('clientError', (_error, socket) => {
  if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
  else socket.destroy();
});
server.listen(port, '127.0.0.1', () => console.log(`s3 listening on ${port}`));

// An outage (fault injection, told over the IPC channel by infra/local/engines.ts) closes the port and opens it again.
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

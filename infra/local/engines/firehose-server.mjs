// A minimal Amazon Data Firehose as its own process: the JSON 1.1 API (POST /, X-Amz-Target Firehose_20150804.<Op>),
// DirectPut streams to an S3 destination, on loopback only (no authentication). Records are buffered in memory per
// stream, concatenated as-is, and delivered as one object per buffer to the S3 endpoint (firehose-delivery.mjs).
// Usage: node firehose-server.mjs <port> <s3 endpoint url> [buffer interval override, seconds]
// The override replaces every stream's IntervalInSeconds (fractions allowed), so a local stack can flush within a
// second while its streams keep their real configuration (DescribeDeliveryStream shows the configured one).
import { randomBytes, randomUUID } from 'node:crypto';
import http from 'node:http';
import { compileDestination, Delivery } from './firehose-delivery.mjs';

const [portArg, s3Arg, intervalArg] = process.argv.slice(2);
const port = Number(portArg);
let endpoint;
try {
  endpoint = new URL(s3Arg);
} catch {}
const override = intervalArg === undefined ? undefined : Number(intervalArg);
if (
  !Number.isInteger(port) ||
  port <= 0 ||
  !/^https?:$/.test(endpoint?.protocol ?? '') ||
  (override !== undefined && !(override >= 0 && override <= 900))
) {
  console.error('usage: firehose-server.mjs <port> <s3 endpoint url> [buffer interval override seconds]');
  process.exit(2);
}

const ACCOUNT = '000000000000';
const REGION = 'us-east-1';
const MAX_REQUEST = 6 * 1024 * 1024;
const MAX_RECORD = 1_024_000;
const MAX_BATCH_RECORDS = 500;
const MAX_BATCH_BYTES = 4 * 1024 * 1024;
/** Undelivered bytes (S3 down) past which records are refused as throttled, so memory stays bounded. */
const MAX_PENDING = 256 * 1024 * 1024;

class ApiError extends Error {
  constructor(type, message, status = 400) {
    super(message);
    Object.assign(this, { type, status });
  }
}
const invalid = (message) => new ApiError('InvalidArgumentException', message);
const constraint = (value, where, rule) =>
  invalid(`1 validation error detected: Value ${value} at '${where}' failed to satisfy constraint: Member ${rule}`);

/** name -> { description, delivery } */
const streams = new Map();
/** Every delivery still holding data, deleted streams' included, for the flush at shutdown. */
const deliveries = new Set();
const pending = { bytes: 0 };
let recordCounter = 0;

function streamNamed(name) {
  if (typeof name !== 'string' || !/^[a-zA-Z0-9_.-]{1,64}$/.test(name)) {
    throw constraint(
      JSON.stringify(name ?? null),
      'deliveryStreamName',
      'must satisfy regular expression pattern: [a-zA-Z0-9_.-]+',
    );
  }
  return name;
}

function existing(name) {
  const stream = streams.get(streamNamed(name));
  if (!stream) throw new ApiError('ResourceNotFoundException', `Firehose ${name} under account ${ACCOUNT} not found.`);
  return stream;
}

/** Strict base64 (a blob the SDK encoded); anything else is a serialization error, as in the service. */
function decodeData(value, where) {
  if (value === undefined || value === null) throw constraint('null', where, 'must not be null');
  if (typeof value !== 'string' || value.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(value)) {
    throw new ApiError('SerializationException', `Invalid base64 value at '${where}'`);
  }
  const data = Buffer.from(value, 'base64');
  if (data.length > MAX_RECORD)
    throw constraint(`of ${data.length} bytes`, where, `must have length less than or equal to ${MAX_RECORD}`);
  return data;
}

const recordId = () => `${(++recordCounter).toString(16).padStart(12, '0')}${randomBytes(36).toString('base64url')}`;

function createDeliveryStream(input) {
  const name = streamNamed(input.DeliveryStreamName);
  const type = input.DeliveryStreamType ?? 'DirectPut';
  if (type !== 'DirectPut')
    throw invalid(`DeliveryStreamType ${type} is not supported by the local Firehose (DirectPut only)`);
  const given = Object.keys(input).filter((k) => k.endsWith('DestinationConfiguration') && input[k] != null);
  const extended = given[0] === 'ExtendedS3DestinationConfiguration';
  if (given.length !== 1 || !(extended || given[0] === 'S3DestinationConfiguration')) {
    throw invalid(
      'Exactly one destination is required: ExtendedS3DestinationConfiguration or S3DestinationConfiguration',
    );
  }
  const config = input[given[0]];
  let destination;
  try {
    destination = compileDestination(config, name);
  } catch (error) {
    throw invalid(error.message);
  }
  if (streams.has(name))
    throw new ApiError('ResourceInUseException', `Firehose ${name} under accountId ${ACCOUNT} already exists`);
  const arn = `arn:aws:firehose:${REGION}:${ACCOUNT}:deliverystream/${name}`;
  const s3 = {
    RoleARN: config.RoleARN,
    BucketARN: config.BucketARN,
    Prefix: config.Prefix,
    ErrorOutputPrefix: config.ErrorOutputPrefix,
    BufferingHints: {
      SizeInMBs: destination.sizeBytes / 1024 / 1024,
      IntervalInSeconds: destination.intervalMs / 1000,
    },
    CompressionFormat: config.CompressionFormat ?? 'UNCOMPRESSED',
    EncryptionConfiguration: config.EncryptionConfiguration ?? { NoEncryptionConfig: 'NoEncryption' },
    CloudWatchLoggingOptions: config.CloudWatchLoggingOptions ?? { Enabled: false },
  };
  const description = {
    DeliveryStreamName: name,
    DeliveryStreamARN: arn,
    DeliveryStreamStatus: 'ACTIVE',
    DeliveryStreamEncryptionConfiguration: { Status: 'DISABLED' },
    DeliveryStreamType: 'DirectPut',
    VersionId: '1',
    CreateTimestamp: Date.now() / 1000,
    Destinations: [
      {
        DestinationId: 'destinationId-000000000001',
        S3DestinationDescription: s3,
        ...(extended && {
          ExtendedS3DestinationDescription: { ...s3, S3BackupMode: 'Disabled', FileExtension: config.FileExtension },
        }),
      },
    ],
    HasMoreDestinations: false,
  };
  const delivery = new Delivery(
    name,
    destination,
    endpoint,
    override === undefined ? undefined : override * 1000,
    pending,
  );
  streams.set(name, { description, delivery });
  deliveries.add(delivery);
  return { DeliveryStreamARN: arn };
}

function listDeliveryStreams(input) {
  const limit = input.Limit ?? 10;
  if (!Number.isInteger(limit) || limit < 1 || limit > 10000) throw constraint(limit, 'limit', 'must be 1-10000');
  const after = input.ExclusiveStartDeliveryStreamName ?? '';
  const names = [...streams.entries()]
    .filter(
      ([n, s]) =>
        n > after && (!input.DeliveryStreamType || s.description.DeliveryStreamType === input.DeliveryStreamType),
    )
    .map(([n]) => n)
    .sort();
  return { DeliveryStreamNames: names.slice(0, limit), HasMoreDeliveryStreams: names.length > limit };
}

function deleteDeliveryStream(input) {
  const { delivery } = existing(input.DeliveryStreamName);
  streams.delete(input.DeliveryStreamName);
  // What it accepted is still delivered, in the background.
  delivery.flush().then(() => deliveries.delete(delivery));
  return {};
}

/** Adds accepted records to the stream's buffer; one past the undelivered-bytes bound is refused as throttled. */
function accept(delivery, data) {
  if (pending.bytes + data.length > MAX_PENDING) return undefined;
  delivery.add(data);
  return recordId();
}

function putRecord(input) {
  const { delivery } = existing(input.DeliveryStreamName);
  if (typeof input.Record !== 'object' || input.Record === null) throw constraint('null', 'record', 'must not be null');
  const id = accept(delivery, decodeData(input.Record.Data, 'record.data'));
  if (!id) throw new ApiError('ServiceUnavailableException', 'Slow down.', 503);
  return { RecordId: id, Encrypted: false };
}

function putRecordBatch(input) {
  const { delivery } = existing(input.DeliveryStreamName);
  const records = input.Records;
  if (!Array.isArray(records)) throw constraint('null', 'records', 'must not be null');
  if (records.length < 1 || records.length > MAX_BATCH_RECORDS) {
    throw constraint(`of ${records.length} records`, 'records', `must have length between 1 and ${MAX_BATCH_RECORDS}`);
  }
  const data = records.map((r, i) => decodeData(r?.Data, `records.${i + 1}.member.data`));
  const total = data.reduce((sum, d) => sum + d.length, 0);
  if (total > MAX_BATCH_BYTES)
    throw invalid(`Records size ${total} exceeds the limit of ${MAX_BATCH_BYTES} bytes per call`);
  let failed = 0;
  const responses = data.map((d) => {
    const id = failed === 0 ? accept(delivery, d) : undefined;
    if (id) return { RecordId: id };
    failed++;
    return { ErrorCode: 'ServiceUnavailableException', ErrorMessage: 'Slow down.' };
  });
  return { FailedPutCount: failed, Encrypted: false, RequestResponses: responses };
}

const OPERATIONS = {
  CreateDeliveryStream: createDeliveryStream,
  DescribeDeliveryStream: (input) => ({ DeliveryStreamDescription: existing(input.DeliveryStreamName).description }),
  ListDeliveryStreams: listDeliveryStreams,
  DeleteDeliveryStream: deleteDeliveryStream,
  PutRecord: putRecord,
  PutRecordBatch: putRecordBatch,
};

function send(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function handle(req, res) {
  res.setHeader('x-amzn-requestid', randomUUID());
  const fail = (error) => {
    if (!(error instanceof ApiError)) console.error('firehose: internal error', error);
    const e = error instanceof ApiError ? error : new ApiError('InternalFailure', 'Internal service error', 500);
    if (!req.complete) res.setHeader('connection', 'close');
    send(res, e.status, { __type: e.type, message: e.message });
  };
  if (req.method !== 'POST') return fail(new ApiError('UnknownOperationException', 'Only POST / is served', 404));
  const chunks = [];
  let size = 0;
  req.on('data', (chunk) => {
    size += chunk.length;
    if (size <= MAX_REQUEST) chunks.push(chunk);
    else if (size - chunk.length <= MAX_REQUEST) {
      chunks.length = 0;
      fail(new ApiError('InvalidArgumentException', `Request body exceeds ${MAX_REQUEST} bytes`, 413));
    }
  });
  req.on('error', () => {});
  req.on('end', () => {
    if (size > MAX_REQUEST) return;
    try {
      const target = String(req.headers['x-amz-target'] ?? '');
      const name = target.startsWith('Firehose_20150804.') ? target.slice(18) : '';
      const operation = Object.hasOwn(OPERATIONS, name) ? OPERATIONS[name] : undefined;
      if (!operation) {
        throw new ApiError('UnknownOperationException', `Unknown operation ${target}`);
      }
      let input;
      try {
        input = size === 0 ? {} : JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        throw new ApiError('SerializationException', 'The request body is not valid JSON');
      }
      if (typeof input !== 'object' || input === null || Array.isArray(input)) {
        throw new ApiError('SerializationException', 'The request body must be a JSON object');
      }
      send(res, 200, operation(input));
    } catch (error) {
      fail(error);
    }
  });
}

const server = http.createServer(handle);
server.on('clientError', (_error, socket) => {
  if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
  else socket.destroy();
});
server.listen(port, '127.0.0.1', () => console.log(`firehose listening on ${port}`));

let stopping = false;
// IPC outage (as sqs-server.mjs): the API port closes, the buffers stay and keep being delivered.
process.on('message', (command) => {
  if (command === 'pause') {
    server.close();
    server.closeAllConnections();
    process.send?.('paused');
  } else if (command === 'resume') {
    if (server.listening || stopping) process.send?.('resumed');
    else server.listen(port, '127.0.0.1', () => process.send?.('resumed'));
  }
});

// A stop delivers every buffer (as the service would, eventually), for at most 5 s.
async function shutdown() {
  if (stopping) return;
  stopping = true;
  server.close();
  server.closeAllConnections();
  const flushed = Promise.all([...deliveries].map((d) => d.flush()));
  const deadline = new Promise((resolve) => setTimeout(resolve, 5000).unref());
  await Promise.race([flushed, deadline]);
  if (pending.bytes > 0) console.error(`firehose: stopped with ${pending.bytes} bytes undelivered (S3 unreachable)`);
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);

// The local Firehose's S3 side: a delivery stream's destination (prefixes, object names, buffering hints) and its
// buffer, delivered in order to the S3 endpoint with a plain path-style PUT, retried until it lands.
import { createHash, randomInt, randomUUID } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { promisify } from 'node:util';
import zlib from 'node:zlib';

const gzip = promisify(zlib.gzip);
const RETRY_BASE_MS = 100;
const RETRY_CAP_MS = 2000;
const PUT_TIMEOUT_MS = 30_000;

const pad = (n, width) => String(n).padStart(width, '0');
const FIELDS = {
  yyyy: (d) => pad(d.getUTCFullYear(), 4),
  uuuu: (d) => pad(d.getUTCFullYear(), 4),
  yy: (d) => pad(d.getUTCFullYear() % 100, 2),
  MM: (d) => pad(d.getUTCMonth() + 1, 2),
  M: (d) => String(d.getUTCMonth() + 1),
  dd: (d) => pad(d.getUTCDate(), 2),
  d: (d) => String(d.getUTCDate()),
  HH: (d) => pad(d.getUTCHours(), 2),
  H: (d) => String(d.getUTCHours()),
  mm: (d) => pad(d.getUTCMinutes(), 2),
  m: (d) => String(d.getUTCMinutes()),
  ss: (d) => pad(d.getUTCSeconds(), 2),
  s: (d) => String(d.getUTCSeconds()),
};

/**
 * A java.time DateTimeFormatter pattern, the subset prefixes use: the fields above, 'quoted' literals ('' is a quote)
 * and any non-letter as itself. Evaluated in UTC (no CustomTimeZone).
 */
function compileTimestamp(pattern) {
  const parts = [];
  for (let i = 0; i < pattern.length; ) {
    const c = pattern[i];
    if (c === "'") {
      const close = pattern.indexOf("'", i + 1);
      if (close < 0) throw new Error(`unterminated quote in timestamp pattern "${pattern}"`);
      const text = close === i + 1 ? "'" : pattern.slice(i + 1, close);
      parts.push(() => text);
      i = close + 1;
    } else if (/[A-Za-z]/.test(c)) {
      let j = i;
      while (pattern[j] === c) j++;
      const field = FIELDS[pattern.slice(i, j)];
      if (!field) throw new Error(`unsupported timestamp field "${pattern.slice(i, j)}" in "${pattern}"`);
      parts.push(field);
      i = j;
    } else {
      parts.push(() => c);
      i++;
    }
  }
  if (parts.length === 0) throw new Error('empty timestamp pattern');
  return (date) => parts.map((p) => p(date)).join('');
}

const ALPHANUMERIC = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
const randomString = () => Array.from({ length: 11 }, () => ALPHANUMERIC[randomInt(ALPHANUMERIC.length)]).join('');

/**
 * A custom prefix (`!{timestamp:…}`, `!{firehose:random-string}`, `!{firehose:error-output-type}` in an error
 * prefix) as a function of the buffer's arrival time. A prefix without expressions gets the default UTC time prefix
 * `yyyy/MM/dd/HH/` appended, as Firehose does (an error prefix `<error-output-type>/yyyy/MM/dd/HH/`).
 */
function compilePrefix(template, isError) {
  const parts = [];
  let last = 0;
  let expressions = false;
  let errorType = false;
  for (const match of template.matchAll(/!\{([^:}]*):([^}]*)\}/g)) {
    const literal = template.slice(last, match.index);
    parts.push(() => literal);
    expressions = true;
    const [, namespace, value] = match;
    if (namespace === 'timestamp') parts.push(compileTimestamp(value));
    else if (namespace === 'firehose' && value === 'random-string') parts.push(randomString);
    else if (namespace === 'firehose' && value === 'error-output-type') {
      if (!isError) throw new Error('Prefix cannot contain !{firehose:error-output-type}');
      errorType = true;
      parts.push((_date, type) => type);
    } else throw new Error(`The expression ${match[0]} is not supported`);
    last = match.index + match[0].length;
  }
  const rest = template.slice(last);
  if (rest.includes('!{')) throw new Error(`Malformed expression in "${template}"`);
  parts.push(() => rest);
  if (expressions && isError && !errorType) {
    throw new Error('ErrorOutputPrefix with expressions must contain !{firehose:error-output-type}');
  }
  if (!expressions) {
    if (isError) parts.push((_date, type) => `${type}/`);
    parts.push(compileTimestamp("yyyy/MM/dd/HH'/'"));
  }
  return { expressions, render: (date, type = 'processing-failed') => parts.map((p) => p(date, type)).join('') };
}

/**
 * Checks an (Extended)S3DestinationConfiguration the way CreateDeliveryStream does and returns what delivery needs.
 * Throws an Error whose message is the InvalidArgumentException's.
 */
export function compileDestination(config, streamName) {
  if (typeof config !== 'object' || config === null) throw new Error('An S3 destination configuration is required');
  const bucket = /^arn:[^:]*:s3:::([\w.-]{1,255})$/.exec(String(config.BucketARN ?? ''))?.[1];
  if (!bucket) throw new Error(`BucketARN "${config.BucketARN}" is not an S3 bucket ARN (arn:aws:s3:::<bucket>)`);
  const hints = config.BufferingHints ?? {};
  const sizeInMBs = hints.SizeInMBs ?? 5;
  const intervalInSeconds = hints.IntervalInSeconds ?? 300;
  if (!Number.isInteger(sizeInMBs) || sizeInMBs < 1 || sizeInMBs > 128) throw new Error('SizeInMBs must be 1-128');
  if (!Number.isInteger(intervalInSeconds) || intervalInSeconds < 0 || intervalInSeconds > 900) {
    throw new Error('IntervalInSeconds must be 0-900');
  }
  const compression = config.CompressionFormat ?? 'UNCOMPRESSED';
  if (compression !== 'UNCOMPRESSED' && compression !== 'GZIP') {
    throw new Error(`CompressionFormat ${compression} is not supported by the local Firehose (UNCOMPRESSED, GZIP)`);
  }
  for (const field of ['Prefix', 'ErrorOutputPrefix']) {
    if (config[field] !== undefined && (typeof config[field] !== 'string' || config[field].length > 1024)) {
      throw new Error(`${field} must be a string of at most 1024 characters`);
    }
  }
  const prefix = compilePrefix(config.Prefix ?? '', false);
  if (prefix.expressions && !config.ErrorOutputPrefix) {
    throw new Error('ErrorOutputPrefix is required when Prefix contains expressions');
  }
  const errorPrefix = compilePrefix(config.ErrorOutputPrefix ?? '', true);
  const extension = config.FileExtension ?? (compression === 'GZIP' ? '.gz' : '');
  const suffixTime = compileTimestamp('yyyy-MM-dd-HH-mm-ss');
  return {
    bucket,
    gzip: compression === 'GZIP',
    sizeBytes: sizeInMBs * 1024 * 1024,
    intervalMs: intervalInSeconds * 1000,
    errorPrefix,
    /** `<evaluated prefix><stream>-<version>-<yyyy-MM-dd-HH-mm-ss>-<uuid><extension>`, as the real service names it. */
    objectKey: (date) => `${prefix.render(date)}${streamName}-1-${suffixTime(date)}-${randomUUID()}${extension}`,
  };
}

function putObject(endpoint, bucket, key, body) {
  return new Promise((resolve) => {
    const path = `${endpoint.pathname.replace(/\/$/, '')}/${bucket}/${key.split('/').map(encodeURIComponent).join('/')}`;
    const headers = {
      'content-type': 'application/octet-stream',
      'content-length': body.length,
      'content-md5': createHash('md5').update(body).digest('base64'),
    };
    const client = endpoint.protocol === 'https:' ? https : http;
    const req = client.request(endpoint, { method: 'PUT', path, headers, timeout: PUT_TIMEOUT_MS }, (res) => {
      res.resume();
      res.on('error', (e) => resolve(e.message));
      res.on('end', () =>
        resolve(res.statusCode >= 200 && res.statusCode < 300 ? undefined : `HTTP ${res.statusCode}`),
      );
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (e) => resolve(e.code ?? e.message));
    req.end(body);
  });
}

/**
 * One delivery stream's buffer and the objects sealed from it, PUT one at a time in order. A failed PUT is retried
 * with backoff for as long as the process lives: nothing accepted is dropped. `pending` counts undelivered bytes
 * across streams (the API refuses records past a bound).
 */
export class Delivery {
  constructor(name, destination, endpoint, intervalOverrideMs, pending) {
    Object.assign(this, { name, destination, endpoint, pending });
    this.intervalMs = intervalOverrideMs ?? destination.intervalMs;
    this.parts = [];
    this.size = 0;
    this.queue = [];
    this.hurry = false;
    this.idleWaiters = [];
  }

  add(data) {
    if (data.length === 0) return; // adds nothing to an object
    if (this.size > 0 && this.size + data.length > this.destination.sizeBytes) this.seal();
    if (this.size === 0) {
      this.firstArrival = new Date();
      this.timer = setTimeout(() => this.seal(), this.intervalMs);
    }
    this.parts.push(data);
    this.size += data.length;
    this.pending.bytes += data.length;
    if (this.size >= this.destination.sizeBytes) this.seal();
  }

  /** The buffer becomes one object to deliver; its name's time is the arrival of its oldest record. */
  seal() {
    clearTimeout(this.timer);
    if (this.size === 0) return;
    const key = this.destination.objectKey(this.firstArrival);
    this.queue.push({ key, parts: this.parts, size: this.size });
    this.parts = [];
    this.size = 0;
    void this.run();
  }

  get idle() {
    return this.size === 0 && this.queue.length === 0;
  }

  /** Resolves once everything buffered so far is delivered (the buffer sealed first). */
  flush() {
    this.seal();
    this.hurry = true;
    this.wake?.();
    return this.idle ? Promise.resolve() : new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async run() {
    if (this.running) return;
    this.running = true;
    for (let failures = 0; this.queue.length > 0; ) {
      const item = this.queue[0];
      if (!item.body) {
        const joined = Buffer.concat(item.parts, item.size);
        item.body = this.destination.gzip ? await gzip(joined) : joined;
        item.parts = undefined;
      }
      const problem = await putObject(this.endpoint, this.destination.bucket, item.key, item.body);
      if (problem === undefined) {
        this.queue.shift();
        this.pending.bytes -= item.size;
        if (failures > 0) console.error(`firehose: ${this.name}: delivered ${item.key} after ${failures} retries`);
        failures = 0;
        continue;
      }
      if (failures++ === 0)
        console.error(`firehose: ${this.name}: delivery of ${item.key} failed (${problem}), retrying`);
      const delay = this.hurry
        ? 100
        : Math.min(RETRY_CAP_MS, RETRY_BASE_MS * 2 ** failures) * (0.5 + Math.random() / 2);
      await new Promise((resolve) => {
        this.wake = resolve;
        setTimeout(resolve, delay);
      });
      this.wake = undefined;
    }
    this.running = false;
    if (this.idle) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}

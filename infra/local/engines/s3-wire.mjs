// The local S3's wire helpers: bounded bodies, aws-chunked decoding, flexible checksums, XML.
import { createHash } from 'node:crypto';
import zlib from 'node:zlib';

export class S3Error extends Error {
  constructor(status, code, message, extra = {}) {
    super(message);
    this.status = status;
    this.code = code;
    this.extra = extra;
  }
}

/** The whole body, or an EntityTooLarge error past `limit` bytes (the rest is read and dropped). */
export function readBody(req, limit) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      if (size > limit) return;
      size += chunk.length;
      if (size > limit) {
        chunks.length = 0;
        reject(new S3Error(400, 'EntityTooLarge', 'Your proposed upload exceeds the maximum allowed size'));
      } else chunks.push(chunk);
    });
    req.on('end', () => size <= limit && resolve(Buffer.concat(chunks, size)));
    req.on('error', reject);
  });
}

/** S3's bucket naming rules (3-63 characters, lowercase letters, digits, dots, hyphens, …). */
export function validBucket(name) {
  return (
    /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) &&
    !name.includes('..') &&
    !/^\d+\.\d+\.\d+\.\d+$/.test(name) &&
    !/^(xn--|sthree-)/.test(name) &&
    !/(-s3alias|--ol-s3)$/.test(name)
  );
}

/** `bytes=a-b`, `bytes=a-` or `bytes=-n`; anything else (several ranges) is the whole object, as in S3. */
export function byteRange(header, size) {
  const m = /^bytes=(\d*)-(\d*)$/.exec(String(header ?? '').trim());
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  const start = m[1] === '' ? Math.max(0, size - Number(m[2])) : Number(m[1]);
  const end = m[1] === '' || m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || start > end) {
    throw new S3Error(416, 'InvalidRange', 'The requested range is not satisfiable', { RangeRequested: header });
  }
  return { start, end };
}

const malformed = () => new S3Error(400, 'IncompleteBody', 'The aws-chunked body is malformed');

/**
 * `Content-Encoding: aws-chunked` (what SDK v3 sends for a streamed body with a flexible checksum, and SigV4
 * streaming uploads): `<hex size>[;chunk-signature=…]\r\n<data>\r\n` … `0[;…]\r\n` then trailer lines
 * (`x-amz-checksum-crc32:…`, `x-amz-trailer-signature:…`) and an empty line. Signatures are not checked.
 */
export function decodeAwsChunked(raw) {
  const parts = [];
  let pos = 0;
  for (;;) {
    const eol = raw.indexOf('\r\n', pos);
    if (eol < 0) throw malformed();
    const size = raw.toString('latin1', pos, eol).split(';')[0].trim();
    if (!/^[0-9a-fA-F]{1,8}$/.test(size)) throw malformed();
    const length = Number.parseInt(size, 16);
    pos = eol + 2;
    if (length === 0) break;
    if (pos + length + 2 > raw.length || raw[pos + length] !== 13 || raw[pos + length + 1] !== 10) throw malformed();
    parts.push(raw.subarray(pos, pos + length));
    pos += length + 2;
  }
  const trailers = {};
  while (pos < raw.length) {
    const eol = raw.indexOf('\r\n', pos);
    const line = raw.toString('latin1', pos, eol < 0 ? raw.length : eol);
    pos = eol < 0 ? raw.length : eol + 2;
    if (line === '') break;
    const colon = line.indexOf(':');
    if (colon <= 0) throw malformed();
    trailers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { body: Buffer.concat(parts), trailers };
}

export const CHECKSUM_HEADERS = [
  'x-amz-checksum-crc32',
  'x-amz-checksum-crc32c',
  'x-amz-checksum-crc64nvme',
  'x-amz-checksum-sha1',
  'x-amz-checksum-sha256',
];

/** The base64 checksum S3 would compute, or undefined for the algorithms not checked here (CRC32C, CRC64NVME). */
function compute(header, body) {
  if (header === 'x-amz-checksum-crc32' && zlib.crc32) {
    const out = Buffer.alloc(4);
    out.writeUInt32BE(zlib.crc32(body));
    return out.toString('base64');
  }
  if (header === 'x-amz-checksum-sha1') return createHash('sha1').update(body).digest('base64');
  if (header === 'x-amz-checksum-sha256') return createHash('sha256').update(body).digest('base64');
  return undefined;
}

/** The client's checksum ({ header, value }) after checking it and any Content-MD5 against the body. */
export function verifyChecksums(headers, trailers, body) {
  const md5 = headers['content-md5'];
  if (md5 !== undefined && createHash('md5').update(body).digest('base64') !== md5) {
    throw new S3Error(400, 'BadDigest', 'The Content-MD5 you specified did not match what we received.');
  }
  const sent = CHECKSUM_HEADERS.filter((h) => headers[h] !== undefined || trailers[h] !== undefined);
  if (sent.length > 1) throw new S3Error(400, 'InvalidRequest', 'Expecting a single x-amz-checksum- header');
  if (sent.length === 0) return undefined;
  const header = sent[0];
  const value = String(trailers[header] ?? headers[header]);
  const expected = compute(header, body);
  if (expected !== undefined && expected !== value) {
    const name = header.slice('x-amz-checksum-'.length).toUpperCase();
    throw new S3Error(400, 'BadDigest', `The ${name} you specified did not match the calculated checksum.`);
  }
  return { header, value };
}

const ENTITIES = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };
// XML 1.0 cannot carry most control characters: S3 sends them as character references too.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching them is the point
const ESCAPED = /[&<>"'\u0000-\u0008\u000b\u000c\u000e-\u001f]/g;
export const xml = (value) =>
  String(value).replace(ESCAPED, (c) => ENTITIES[c] ?? `&#x${c.charCodeAt(0).toString(16)};`);

/** `<Tag>value</Tag>` for each defined value. */
export const tags = (fields) =>
  Object.entries(fields)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `<${k}>${xml(v)}</${k}>`)
    .join('');

export const NS = 'http://s3.amazonaws.com/doc/2006-03-01/';

const NAMED = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const malformedXml = () => new S3Error(400, 'MalformedXML', 'The XML you provided was not well-formed');

/** Text content back from XML: the named entities and character references. */
function fromXml(text) {
  return text.replace(/&(#x[0-9a-fA-F]{1,6}|#\d{1,7}|amp|lt|gt|quot|apos);/g, (_, e) => {
    if (e[0] !== '#') return NAMED[e];
    const code = e[1] === 'x' ? Number.parseInt(e.slice(2), 16) : Number(e.slice(1));
    if (code > 0x10ffff) throw malformedXml();
    return String.fromCodePoint(code);
  });
}

/** The keys of a DeleteObjects request body (`<Delete><Object><Key>…</Key></Object>…</Delete>`). */
export function parseDeleteKeys(body) {
  const text = body.toString('utf8');
  if (!/<Delete[\s>]/.test(text)) throw malformedXml();
  const keys = [...text.matchAll(/<Object>\s*<Key>([\s\S]*?)<\/Key>/g)].map((m) => fromXml(m[1]));
  if (keys.length > 1000) throw new S3Error(400, 'MalformedXML', 'Up to 1000 keys can be deleted in one request');
  return { keys, quiet: /<Quiet>\s*true\s*<\/Quiet>/.test(text) };
}

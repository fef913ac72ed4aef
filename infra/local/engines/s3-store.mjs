// The local S3's objects on disk, with an in-memory index of their metadata (loaded at start, so the data survives a
// restart). Layout under the data dir:
//   buckets/<bucket>/bucket.json                      {"created": ISO date}
//   buckets/<bucket>/objects/<sha256(key)>.json       metadata: key, data file, ETag, size, type, headers, checksum
//   buckets/<bucket>/objects/<sha256(key)>.<id>.data  the body
// Keys may hold any character and 1024 bytes, more than a file name can: files are named by the key's hash and the
// key is in the sidecar. Each write is a new data file, then the sidecar renamed over the old one (the commit), then
// the old data file removed, so a crash at any point leaves the old object or the new one, never a mix.
import { createHash, randomUUID } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import path from 'node:path';

const utf8Compare = (a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));

export class S3Store {
  constructor(root) {
    this.root = path.join(root, 'buckets');
    /** bucket -> { created, objects: Map<key, meta>, sorted: string[] | undefined } */
    this.buckets = new Map();
    this.tails = new Map();
  }

  async open() {
    await mkdir(this.root, { recursive: true });
    for (const name of await readdir(this.root)) {
      const dir = path.join(this.root, name);
      let created;
      try {
        created = JSON.parse(await readFile(path.join(dir, 'bucket.json'), 'utf8')).created;
      } catch {
        continue; // a bucket half created or half deleted
      }
      const bucket = { created, objects: new Map(), sorted: undefined };
      await mkdir(path.join(dir, 'objects'), { recursive: true });
      const files = await readdir(path.join(dir, 'objects'));
      const referenced = new Set();
      for (const file of files.filter((f) => f.endsWith('.json'))) {
        try {
          const meta = JSON.parse(await readFile(path.join(dir, 'objects', file), 'utf8'));
          bucket.objects.set(meta.key, meta);
          referenced.add(meta.file);
        } catch {}
      }
      // Leftovers of writes a crash interrupted: temp sidecars and data files no sidecar points to.
      for (const file of files) {
        if (!file.endsWith('.json') && !referenced.has(file))
          await rm(path.join(dir, 'objects', file), { force: true });
      }
      this.buckets.set(name, bucket);
    }
  }

  listBuckets() {
    return [...this.buckets.entries()].sort(([a], [b]) => utf8Compare(a, b)).map(([name, b]) => ({ name, ...b }));
  }

  has(bucket) {
    return this.buckets.has(bucket);
  }

  /** @returns {Promise<boolean>} false when the bucket was there already */
  async createBucket(name) {
    if (this.buckets.has(name)) return false;
    const dir = path.join(this.root, name);
    const created = new Date().toISOString();
    await mkdir(path.join(dir, 'objects'), { recursive: true });
    await writeFile(path.join(dir, 'bucket.json'), JSON.stringify({ created }));
    if (!this.buckets.has(name)) this.buckets.set(name, { created, objects: new Map(), sorted: undefined });
    return true;
  }

  /** @returns {'deleted' | 'missing' | 'not-empty'} */
  async deleteBucket(name) {
    const bucket = this.buckets.get(name);
    if (!bucket) return 'missing';
    if (bucket.objects.size > 0) return 'not-empty';
    this.buckets.delete(name);
    // bucket.json first: a crash mid-way leaves a directory open() skips.
    await rm(path.join(this.root, name, 'bucket.json'), { force: true });
    await rm(path.join(this.root, name), { recursive: true, force: true });
    return 'deleted';
  }

  head(bucket, key) {
    return this.buckets.get(bucket)?.objects.get(key);
  }

  /** An open file handle on the object's body (opened before a concurrent overwrite can remove it). */
  async openBody(bucket, key) {
    for (let attempt = 0; attempt < 3; attempt++) {
      const meta = this.head(bucket, key);
      if (!meta) return undefined;
      try {
        return { meta, handle: await open(this.objectPath(bucket, meta.file), 'r') };
      } catch (error) {
        if (error.code !== 'ENOENT') throw error;
      }
    }
    return undefined;
  }

  /** Writes of one key are serialised, so the last sidecar renamed is the last write indexed. */
  put(bucket, key, body, fields) {
    return this.serial(bucket, key, async () => {
      const target = this.buckets.get(bucket);
      if (!target) return undefined;
      const hash = createHash('sha256').update(key).digest('hex');
      const file = `${hash}.${randomUUID()}.data`;
      const meta = {
        key,
        file,
        etag: `"${createHash('md5').update(body).digest('hex')}"`,
        size: body.length,
        lastModified: new Date().toISOString(),
        ...fields,
      };
      const sidecar = this.objectPath(bucket, `${hash}.json`);
      const temp = this.objectPath(bucket, `${hash}.${randomUUID()}.tmp`);
      await writeFile(this.objectPath(bucket, file), body);
      await writeFile(temp, JSON.stringify(meta));
      await rename(temp, sidecar);
      const old = target.objects.get(key);
      if (!old) target.sorted = undefined;
      target.objects.set(key, meta);
      if (old) await unlink(this.objectPath(bucket, old.file)).catch(() => {});
      return meta;
    });
  }

  remove(bucket, key) {
    return this.serial(bucket, key, async () => {
      const target = this.buckets.get(bucket);
      const old = target?.objects.get(key);
      if (!old) return;
      const hash = createHash('sha256').update(key).digest('hex');
      await rm(this.objectPath(bucket, `${hash}.json`), { force: true });
      target.objects.delete(key);
      target.sorted = undefined;
      await rm(this.objectPath(bucket, old.file), { force: true });
    });
  }

  /**
   * One page of keys in UTF-8 binary order, after `after` (exclusive), rolling keys that share a prefix up to the
   * delimiter into one common prefix. `skip` is a common prefix the previous page ended on.
   */
  list(bucket, { prefix = '', delimiter = '', after = '', skip, maxKeys }) {
    const target = this.buckets.get(bucket);
    target.sorted ??= [...target.objects.keys()].sort(utf8Compare);
    const keys = target.sorted;
    // The first key >= prefix, or > after when after is not before the prefix.
    const exclusive = after !== '' && utf8Compare(after, prefix) >= 0;
    const from = exclusive ? after : prefix;
    let lo = 0;
    let hi = keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const order = utf8Compare(keys[mid], from);
      if (order < 0 || (exclusive && order === 0)) lo = mid + 1;
      else hi = mid;
    }
    const contents = [];
    const prefixes = [];
    let last;
    let lastPrefix = skip;
    let truncated = false;
    for (let i = lo; i < keys.length && keys[i].startsWith(prefix); i++) {
      const key = keys[i];
      if (lastPrefix !== undefined && key.startsWith(lastPrefix)) continue;
      const cut = delimiter ? key.indexOf(delimiter, prefix.length) : -1;
      if (contents.length + prefixes.length >= maxKeys) {
        truncated = maxKeys > 0;
        break;
      }
      if (cut >= 0) {
        lastPrefix = key.slice(0, cut + delimiter.length);
        prefixes.push(lastPrefix);
        last = { prefix: lastPrefix };
      } else {
        contents.push(target.objects.get(key));
        last = { key };
      }
    }
    return { contents, prefixes, truncated, last };
  }

  objectPath(bucket, file) {
    return path.join(this.root, bucket, 'objects', file);
  }

  serial(bucket, key, action) {
    const id = `${bucket}/${key}`;
    const run = (this.tails.get(id) ?? Promise.resolve()).then(action);
    const tail = run.catch(() => {});
    this.tails.set(id, tail);
    tail.then(() => {
      if (this.tails.get(id) === tail) this.tails.delete(id);
    });
    return run;
  }
}

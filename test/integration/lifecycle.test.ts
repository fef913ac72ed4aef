import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { startStackProcess, stopStackProcess } from './global-setup';
import { enginePids, eventually } from './support';

function alive(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('tem local lifecycle', () => {
  it('prints ready with its URLs, writes local.json, and on SIGINT stops every process it started', async () => {
    const { child, info, stateDir, output } = await startStackProcess();
    expect(output()).toMatch(/ready/);
    expect(output()).toContain(info.http);
    expect(output()).toContain(info.mqtt);
    expect(Object.keys(info.endpoints).sort()).toEqual(['dynamodb', 'firehose', 'kinesis', 's3', 'sqs']);
    expect(info.resources).toMatchObject({ eventStream: expect.any(String), eventsTable: expect.any(String) });
    expect(info.devApiKey).toMatch(/^tem_/);
    const pids = enginePids(info);
    expect(pids.every(alive)).toBe(true);

    const code = await stopStackProcess(child, 'SIGINT');
    expect(code, output().slice(-2000)).toBe(0);
    const lastLine = output().trim().split('\n').at(-1) ?? '';
    expect(JSON.parse(lastLine)).toMatchObject({ stopped: true, signal: 'SIGINT' });
    expect(pids.filter(alive)).toEqual([]);
    expect(existsSync(path.join(stateDir, 'local.json'))).toBe(false);
  });

  it('makes its state dir private (0700, key and log files 0600), also one that existed with looser modes', async () => {
    const stateDir = mkdtempSync(path.join(tmpdir(), 'tem-it-open-'));
    chmodSync(stateDir, 0o755);
    mkdirSync(path.join(stateDir, 'keys'), { mode: 0o755 });
    mkdirSync(path.join(stateDir, 'logs'), { mode: 0o755 });
    mkdirSync(path.join(stateDir, 'data'), { mode: 0o755 });
    writeFileSync(path.join(stateDir, 'logs', 'functions.log'), '', { mode: 0o644 });
    // As a stack killed outright leaves them: its state file and signing key, readable by everyone.
    writeFileSync(path.join(stateDir, 'local.json'), '{}\n', { mode: 0o644 });
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(
      path.join(stateDir, 'keys', 'tokenSigningKey.pem'),
      privateKey.export({ format: 'pem', type: 'pkcs8' }),
      {
        mode: 0o644,
      },
    );
    const { child, output } = await startStackProcess({ TEM_STATE_DIR: stateDir });
    try {
      const mode = (file: string) => statSync(path.join(stateDir, file)).mode & 0o777;
      expect([mode('.'), mode('keys'), mode('logs'), mode('data')]).toEqual([0o700, 0o700, 0o700, 0o700]);
      expect([mode('local.json'), mode('keys/tokenSigningKey.pem'), mode('logs/functions.log')]).toEqual([
        0o600, 0o600, 0o600,
      ]);
    } finally {
      expect(await stopStackProcess(child), output().slice(-1500)).toBe(0);
    }
  });

  it('even when killed outright (SIGKILL), leaves no emulator running', async () => {
    const { child, info } = await startStackProcess();
    const pids = enginePids(info);
    expect(pids.every(alive)).toBe(true);
    child.kill('SIGKILL');
    const survivors = await eventually(
      async () => {
        const left = pids.filter(alive);
        return left.length === 0 ? left : undefined;
      },
      10_000,
      'the engines to be reaped',
    );
    expect(survivors).toEqual([]);
  });

  it('runs on the alternative engines too (kinesis-local for Kinesis, DynamoDB Local for DynamoDB)', async () => {
    const { child, info, output } = await startStackProcess({
      TEM_KINESIS_ENGINE: 'kinesis-local',
      TEM_DYNAMODB_ENGINE: 'dynamodb-local',
    });
    try {
      expect(Object.fromEntries(Object.entries(info.engines).map(([s, e]) => [s, e.engine]))).toEqual({
        kinesis: 'kinesis-local',
        dynamodb: 'dynamodb-local',
        sqs: 'local-aws-sqs',
        s3: 'tem-s3',
        firehose: 'tem-firehose',
      });
      const headers = { 'X-API-Key': info.devApiKey, 'content-type': 'application/json' };
      const posted = await fetch(`${info.http}/events`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ type: 'engine.check', data: { ok: true } }),
      });
      expect(posted.status).toBe(202);
      const [id] = ((await posted.json()) as { ids: string[] }).ids;
      const read = await eventually(
        async () => {
          const r = await fetch(`${info.http}/events/${id}`, { headers });
          return r.status === 200 ? await r.json() : undefined;
        },
        20_000,
        'the event through the alternative engines',
      );
      expect(read).toMatchObject({ id, type: 'engine.check', data: { ok: true } });
    } finally {
      expect(await stopStackProcess(child), output().slice(-1500)).toBe(0);
    }
  });
});

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type { TestProject } from 'vitest/node';
import type { LocalStackInfo, StackInfo } from '../../infra/local/stack';

declare module 'vitest' {
  export interface ProvidedContext {
    stack: StackInfo;
    /** The state file of the stack under test: what `tem` commands read via TEM_LOCAL_STATE. */
    stateFile: string;
    /** A trusted external issuer the test stack is configured with (its private key signs test tokens). */
    externalIssuer: { issuer: string; audience: string; kid: string; privateJwk: JWK } | null;
  }
}

/** Starts `tem local` the way a person does (a child process, free ports, its own state dir), waits for `ready`. */
export async function startStackProcess(
  extraEnv: Record<string, string> = {},
): Promise<{ child: ChildProcess; info: LocalStackInfo; stateDir: string; output: () => string }> {
  const stateDir = extraEnv.TEM_STATE_DIR ?? mkdtempSync(path.join(tmpdir(), 'tem-it-'));
  const child = spawn(process.execPath, ['scripts/tem.mjs', 'local'], {
    env: { ...process.env, PORT: '0', MQTT_PORT: '0', TEM_STATE_DIR: stateDir, TEM_QUIET: '1', ...extraEnv },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (c: Buffer) => {
    output += c.toString();
  });
  child.stderr?.on('data', (c: Buffer) => {
    output += c.toString();
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`local stack not ready in 120 s:\n${output}`)), 120_000);
    const check = () => {
      if (/"ready":true/.test(output)) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout?.on('data', check);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`local stack exited with ${code} before ready:\n${output}`));
    });
  });
  const info = JSON.parse(readFileSync(path.join(stateDir, 'local.json'), 'utf8')) as LocalStackInfo;
  return { child, info, stateDir, output: () => output };
}

export async function stopStackProcess(
  child: ChildProcess,
  signal: NodeJS.Signals = 'SIGTERM',
): Promise<number | NodeJS.Signals | null> {
  if (child.exitCode !== null) return child.exitCode;
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) =>
    child.once('exit', (code, killedBy) => resolve(code ?? killedBy)),
  );
  child.kill(signal);
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  const result = await exited;
  clearTimeout(timer);
  return result;
}

/**
 * One stack for the whole integration run. `TEM_LOCAL_STATE=path/to/local.json` reuses a running one instead (an
 * `npm start` in another terminal, or a LocalStack deployment described by `tem state --from-stack`).
 */
export default async function setup(project: TestProject) {
  const reuse = process.env.TEM_LOCAL_STATE;
  if (reuse) {
    project.provide('stack', JSON.parse(readFileSync(reuse, 'utf8')) as StackInfo);
    project.provide('stateFile', path.resolve(reuse));
    project.provide('externalIssuer', null);
    return;
  }
  const issuer = await startTestIssuer();
  const trusted = [
    { issuer: issuer.issuer, jwksUri: issuer.jwksUri, audience: issuer.audience, algorithms: ['RS256'] },
  ];
  const { child, info, stateDir } = await startStackProcess({
    TEM_SETTING_JWT_TRUSTED_ISSUERS: JSON.stringify(trusted),
    // Live MQTT connections re-authorize every 2 s (IoT Core: 300 s at least), so revocation tests run in seconds.
    TEM_SETTING_DEVICE_POLICY_REFRESH_SECONDS: '2',
    // The metrics consumer batches for a minute (topology); the tests read its aggregates within seconds.
    TEM_LOCAL_MAX_BATCHING_WINDOW_SECONDS: '1',
    // Firehose delivers the archive's objects every second instead of every minute (ADR 0018).
    TEM_ARCHIVE_BUFFER_SECONDS: '1',
    // Scheduled functions (the WebSocket sweep) every 2 s instead of every minute.
    TEM_LOCAL_SCHEDULE_SECONDS: '2',
    // Debug logs: the no-secret-in-logs test reads them, and debug is where a leak would hide.
    TEM_LOG_LEVEL: 'DEBUG',
  });
  project.provide('stack', info);
  project.provide('stateFile', path.join(stateDir, 'local.json'));
  project.provide('externalIssuer', {
    issuer: issuer.issuer,
    audience: issuer.audience,
    kid: issuer.kid,
    privateJwk: issuer.privateJwk,
  });
  return async () => {
    await stopStackProcess(child);
    await new Promise<void>((resolve) => issuer.server.close(() => resolve()));
    rmSync(stateDir, { recursive: true, force: true });
  };
}

/** An OpenID-style issuer on loopback: serves its JWKS over HTTP, as a real identity provider would. */
async function startTestIssuer(): Promise<{
  server: Server;
  issuer: string;
  audience: string;
  jwksUri: string;
  kid: string;
  privateJwk: JWK;
}> {
  const { publicKey, privateKey } = await generateKeyPair('RS256', { extractable: true });
  const kid = 'test-issuer-key-1';
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  const server = createServer((req, res) => {
    if (req.url === '/.well-known/jwks.json') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [publicJwk] }));
      return;
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    server,
    issuer: 'https://issuer.test.invalid/',
    audience: 'tem-api',
    jwksUri: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    kid,
    privateJwk: { ...(await exportJWK(privateKey)), kid, alg: 'RS256' },
  };
}

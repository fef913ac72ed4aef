import {
  chmodSync,
  closeSync,
  createWriteStream,
  mkdirSync,
  openSync,
  readdirSync,
  type WriteStream,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { ensureSigningKeyFile } from '../../shared/crypto/file-signer';
import type { Topology } from '../topology';
import type { LocalStackInfo } from './stack-info';

/**
 * The state dir holds the dev API key, the token signing key, the function logs and the engines' data: private to
 * the user (0700, files 0600), also when it was created earlier with looser modes.
 */
export function makePrivate(stateDir: string): void {
  for (const dir of [stateDir, path.join(stateDir, 'logs'), path.join(stateDir, 'keys'), path.join(stateDir, 'data')]) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
  }
  for (const dir of ['keys', 'logs']) {
    for (const file of readdirSync(path.join(stateDir, dir), { withFileTypes: true }))
      if (file.isFile()) chmodSync(path.join(stateDir, dir, file.name), 0o600);
  }
}

/**
 * The KMS keys' local stand-ins, as `file://` URLs: a P-256 key file per key that survives restarts, so issued tokens
 * stay valid.
 */
export function signingKeyFiles(topology: Topology, stateDir: string): Record<keyof Topology['keys'], string> {
  return Object.fromEntries(
    Object.keys(topology.keys).map((name) => [
      name,
      `file://${ensureSigningKeyFile(path.join(stateDir, 'keys', `${name}.pem`))}`,
    ]),
  ) as Record<keyof Topology['keys'], string>;
}

/** Opens `<stateDir>/logs/functions.log` for appending, private (every function's log lines go there). */
export function openFunctionLog(stateDir: string): { path: string; stream: WriteStream } {
  const logPath = path.join(stateDir, 'logs', 'functions.log');
  closeSync(openSync(logPath, 'a', 0o600)); // created (or kept) before its mode is set
  chmodSync(logPath, 0o600);
  return { path: logPath, stream: createWriteStream(logPath, { flags: 'a' }) };
}

/** Writes `<stateDir>/local.json` (private) and prints where everything is. */
export function announceLocalState(stateDir: string, info: LocalStackInfo, progress: (line: string) => void): void {
  // The mode of writeFileSync applies only to a new file: one left by a killed stack keeps its own until chmod.
  const statePath = path.join(stateDir, 'local.json');
  writeFileSync(statePath, `${JSON.stringify(info, null, 2)}\n`, { mode: 0o600 });
  chmodSync(statePath, 0o600);
  progress(`HTTP  ${info.http}`);
  progress(`MQTT  ${info.mqtt}`);
  progress(`WS    ${info.webSocket}`);
  progress(`dashboard ${info.dashboard}  (Prometheus: ${info.metrics})`);
  progress(`state ${statePath} (dev API key inside)`);
}

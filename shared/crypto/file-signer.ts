import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { TokenSigner } from '../domain/tokens';

/** ES256 signing with a P-256 private key kept in a file: the local stack's stand-in for the KMS key. */
export class FileKeySigner implements TokenSigner {
  private readonly key: KeyObject;
  private jwk: Promise<JWK & { kid: string }> | undefined;

  constructor(file: string) {
    this.key = createPrivateKey(readFileSync(file, 'utf8'));
  }

  async sign(signingInput: Uint8Array): Promise<Uint8Array> {
    return sign('sha256', signingInput, { key: this.key, dsaEncoding: 'ieee-p1363' });
  }

  publicJwk(): Promise<JWK & { kid: string }> {
    this.jwk ??= (async () => {
      const jwk = createPublicKey(this.key).export({ format: 'jwk' }) as JWK;
      return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg: 'ES256', use: 'sig' };
    })();
    return this.jwk;
  }
}

/** Creates the local signing key once; it survives restarts so issued tokens stay valid. */
export function ensureSigningKeyFile(file: string): string {
  if (!existsSync(file)) {
    mkdirSync(path.dirname(file), { recursive: true });
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(file, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
  }
  return file;
}

import { createPublicKey } from 'node:crypto';
import { GetPublicKeyCommand, type KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { TokenSigner } from '../domain/tokens';

/** KMS returns an ASN.1 DER ECDSA signature; JWS wants the two 32-byte integers R and S side by side. */
export function derToJose(der: Uint8Array, size = 32): Uint8Array {
  const bytes = Buffer.from(der);
  let offset = 2;
  if (bytes[0] !== 0x30) throw new Error('not a DER sequence');
  if ((bytes[1] ?? 0) & 0x80) offset = 2 + ((bytes[1] ?? 0) & 0x7f);
  const readInt = (): Buffer => {
    if (bytes[offset] !== 0x02) throw new Error('not a DER integer');
    const length = bytes[offset + 1] ?? 0;
    const value = bytes.subarray(offset + 2, offset + 2 + length);
    offset += 2 + length;
    const trimmed = value.subarray(Math.max(0, value.length - size));
    return Buffer.concat([Buffer.alloc(size - trimmed.length), trimmed]);
  };
  const r = readInt();
  const s = readInt();
  return Buffer.concat([r, s]);
}

/** ES256 with an asymmetric KMS key (ECC_NIST_P256, SIGN_VERIFY): the private key never leaves KMS. */
export class KmsSigner implements TokenSigner {
  private jwk: Promise<JWK & { kid: string }> | undefined;

  constructor(
    private readonly client: KMSClient,
    private readonly keyId: string,
  ) {}

  async sign(signingInput: Uint8Array): Promise<Uint8Array> {
    const { Signature } = await this.client.send(
      new SignCommand({
        KeyId: this.keyId,
        Message: signingInput,
        MessageType: 'RAW',
        SigningAlgorithm: 'ECDSA_SHA_256',
      }),
    );
    if (!Signature) throw new Error('KMS returned no signature');
    return derToJose(Signature);
  }

  publicJwk(): Promise<JWK & { kid: string }> {
    this.jwk ??= (async () => {
      const { PublicKey } = await this.client.send(new GetPublicKeyCommand({ KeyId: this.keyId }));
      if (!PublicKey) throw new Error('KMS returned no public key');
      const jwk = createPublicKey({ key: Buffer.from(PublicKey), format: 'der', type: 'spki' }).export({
        format: 'jwk',
      }) as JWK;
      return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg: 'ES256', use: 'sig' };
    })();
    // A failed fetch must not be cached for the container's life.
    this.jwk.catch(() => {
      this.jwk = undefined;
    });
    return this.jwk;
  }
}

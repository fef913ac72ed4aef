import { KMSClient } from '@aws-sdk/client-kms';
import { ConfigError } from '../config';
import { FileKeySigner } from '../crypto/file-signer';
import type { TokenSigner } from '../domain/tokens';
import { KmsSigner } from './kms-signer';

/**
 * The token signing key setting names where the key is: a KMS key (ARN or alias) in AWS, `file://<path>` in the
 * local stack. One setting, two targets, same handler code.
 */
export function signerFromSetting(value: string): TokenSigner {
  if (value.startsWith('file://')) return new FileKeySigner(new URL(value).pathname);
  if (value.startsWith('arn:aws') || value.startsWith('alias/')) return new KmsSigner(new KMSClient({}), value);
  throw new ConfigError(
    `TOKEN_SIGNING_KEY must be a KMS key ARN, an alias/..., or file://<path>; got "${value.slice(0, 40)}"`,
  );
}

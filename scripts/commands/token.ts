import { topology } from '../../infra/topology';
import { signerFromSetting } from '../../shared/aws/signer';
import { roleNamed, roles } from '../../shared/domain/roles';
import { issueToken } from '../../shared/domain/tokens';
import { intOption, parseCommand, positionals, required, usageError } from '../lib/args';
import { CliError, result } from '../lib/output';
import { readLocalState } from '../lib/state';

export const tokenUsage = 'usage: tem token --sub SUBJECT --role ROLE [--ttl SECONDS]   (ttl 1..86400, default 900)';
const spec = {
  usage: tokenUsage,
  options: { sub: { type: 'string' }, role: { type: 'string' }, ttl: { type: 'string' } },
} as const;

/**
 * `tem token`: a JWT signed with the local stack's own issuer key, for development. A deployed stack's key is in
 * KMS and is used only by POST /auth/token.
 */
export async function runToken(argv: string[]): Promise<void> {
  const args = parseCommand(argv, spec);
  positionals(args, []);
  const subject = required(args, 'sub');
  const role = required(args, 'role');
  if (!roleNamed(role)) throw usageError(spec, `unknown role "${role}" (roles: ${Object.keys(roles).join(', ')})`);
  const ttlSeconds = intOption(args, 'ttl', { min: 1, max: 86_400, fallback: 900 });
  const info = readLocalState();
  const keySetting = info.resources?.tokenSigningKey;
  if (!keySetting?.startsWith('file://'))
    throw new CliError(
      `tem token signs only for a local stack (its key is a file); the ${info.target} stack's tokens come from POST /auth/token (${info.http}/auth/token with an API key)`,
    );
  const settings = topology.functions[topology.authorizer.function].environment;
  const issuer = settings?.JWT_ISSUER;
  const audience = settings?.JWT_AUDIENCE;
  if (!issuer || !audience) throw new CliError('the topology gives the API authorizer no JWT_ISSUER / JWT_AUDIENCE');
  const signer = signerFromSetting(keySetting);
  return result(await issueToken({ issuer, audience, signer }, { subject, roles: [role], ttlSeconds }));
}

import {
  changePermission,
  createApiKey,
  type PermissionChange,
  revokeApiKey,
  rotateApiKey,
} from '../../shared/domain/admin';
import { intOption, parseArgs, positionals, usageError } from '../lib/args';
import { result } from '../lib/output';
import { withPrincipalStore } from '../lib/stores';

export const keysUsage = `usage:
  tem keys create --name NAME --role ROLE [--extra PERM]... [--revoke PERM]... [--event-types PATTERN]...
                  [--expires-in SECONDS]
  tem keys list
  tem keys revoke KEYID
  tem keys rotate KEYID [--grace SECONDS]          (default grace 86400)
  tem keys grant|ungrant|revoke-perm|unrevoke-perm KEYID PERM`;

const spec = { usage: keysUsage };
const TEN_YEARS = 10 * 365 * 24 * 3600;

const permissionChanges: Record<string, PermissionChange> = {
  grant: 'grant',
  ungrant: 'ungrant',
  'revoke-perm': 'revoke',
  'unrevoke-perm': 'unrevoke',
};

/** `tem keys ...`: API keys and their principals' permissions, through shared/domain/admin.ts. */
export async function runKeys(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'create': {
      const args = parseArgs(rest, {
        ...spec,
        single: ['name', 'role', 'expires-in'],
        repeatable: ['extra', 'revoke', 'event-types'],
      });
      positionals(args, spec, []);
      const name = args.required('name');
      const role = args.required('role');
      const expiresIn = intOption(args, spec, 'expires-in', { min: 1, max: TEN_YEARS });
      const issued = await withPrincipalStore((store) =>
        createApiKey(store, {
          name,
          role,
          extra: args.values('extra'),
          revoked: args.values('revoke'),
          eventTypes: args.values('event-types'),
          ...(expiresIn === undefined ? {} : { expiresAt: new Date(Date.now() + expiresIn * 1000) }),
        }),
      );
      return result({ keyId: issued.keyId, apiKey: issued.apiKey, principalId: issued.principalId });
    }
    case 'list': {
      positionals(parseArgs(rest, spec), spec, []);
      const keys = await withPrincipalStore((store) => store.listApiKeys());
      // Never the secret's hash: only what identifies a key and its state.
      return result({
        keys: keys.map(({ keyId, principalId, status, createdAt, expiresAt }) => ({
          keyId,
          principalId,
          status,
          createdAt,
          ...(expiresAt === undefined ? {} : { expiresAt }),
        })),
      });
    }
    case 'revoke': {
      const [keyId] = positionals(parseArgs(rest, spec), spec, ['KEYID']);
      return result(await withPrincipalStore((store) => revokeApiKey(store, keyId)));
    }
    case 'rotate': {
      const args = parseArgs(rest, { ...spec, single: ['grace'] });
      const [keyId] = positionals(args, spec, ['KEYID']);
      const grace = intOption(args, spec, 'grace', { min: 0, max: TEN_YEARS, fallback: 86_400 }) ?? 86_400;
      return result({ ...(await withPrincipalStore((store) => rotateApiKey(store, keyId, grace))) });
    }
    case 'grant':
    case 'ungrant':
    case 'revoke-perm':
    case 'unrevoke-perm': {
      const [keyId, permission] = positionals(parseArgs(rest, spec), spec, ['KEYID', 'PERM']);
      const change = permissionChanges[sub] as PermissionChange;
      return result(await withPrincipalStore((store) => changePermission(store, keyId, change, permission)));
    }
    default:
      throw usageError(spec, sub === undefined ? 'missing subcommand' : `unknown subcommand "keys ${sub}"`);
  }
}

import { APIGatewayClient } from '@aws-sdk/client-api-gateway';
import type { StackInfo } from '../../infra/local/stack';
import { topology } from '../../infra/topology';
import { ApiGatewayUsageKeys } from '../../shared/aws/apigw-usage-keys';
import {
  changePermission,
  createApiKey,
  LOCAL_USAGE_KEYS,
  type PermissionChange,
  revokeApiKey,
  rotateApiKey,
  setLimits,
} from '../../shared/domain/admin';
import { Rejection } from '../../shared/domain/errors';
import { INGEST_PERMISSION, isValidGrant, scopeProblem } from '../../shared/domain/permissions';
import { grantsFor } from '../../shared/domain/principals';
import {
  MAX_BURST,
  MAX_DAILY_QUOTA,
  MAX_RATE_PER_SECOND,
  type RateLimitsOverride,
} from '../../shared/domain/rate-limits';
import { EventTypePatternSchema } from '../../shared/domain/roles';
import type { PrincipalRecord, PrincipalStore, UsageKeyRegistry } from '../../shared/ports';
import { intOption, list, type ParsedArgs, parseCommand, positionals, required, usageError } from '../lib/args';
import { helpIfAsked, result } from '../lib/output';
import { readLocalState } from '../lib/state';
import { withPrincipalStore } from '../lib/stores';
import { closeConnectionsOfKey } from '../lib/ws-connections';

export const keysUsage = `usage:
  tem keys create --name NAME --role ROLE [--extra PERM]... [--revoke PERM]... [--event-types PATTERN]...
                  [--expires-in SECONDS] [--rate N] [--burst N] [--quota N]
  tem keys list
  tem keys limits KEYID [--rate N] [--burst N] [--quota N]   (the principal's overrides; none: its role's limits)
  tem keys revoke KEYID
  tem keys rotate KEYID [--grace SECONDS]          (default grace 86400)
  tem keys grant KEYID PERM [--event-types PATTERN]...   (the patterns replace the principal's event types)
  tem keys ungrant|revoke-perm|unrevoke-perm KEYID PERM`;

const spec = { usage: keysUsage };
const LIMIT_OPTIONS = { rate: { type: 'string' }, burst: { type: 'string' }, quota: { type: 'string' } } as const;
const EVENT_TYPES = { 'event-types': { type: 'string', multiple: true } } as const;
/** Each subcommand's flags; one not named here has none. */
const options = {
  create: {
    name: { type: 'string' },
    role: { type: 'string' },
    'expires-in': { type: 'string' },
    ...LIMIT_OPTIONS,
    extra: { type: 'string', multiple: true },
    revoke: { type: 'string', multiple: true },
    ...EVENT_TYPES,
  },
  limits: LIMIT_OPTIONS,
  rotate: { grace: { type: 'string' } },
  grant: EVENT_TYPES,
  none: {},
} as const;
const parse = <O extends (typeof options)[keyof typeof options]>(argv: string[], table: O) =>
  parseCommand(argv, { ...spec, options: table });

/** `--rate N --burst N --quota N`: requests per second, bucket size, requests per UTC day (ADR 0013). */
function limitsOption(args: ParsedArgs<typeof LIMIT_OPTIONS>): RateLimitsOverride {
  const rate = intOption(args, 'rate', { min: 1, max: MAX_RATE_PER_SECOND });
  const burst = intOption(args, 'burst', { min: 1, max: MAX_BURST });
  const dailyQuota = intOption(args, 'quota', { min: 1, max: MAX_DAILY_QUOTA });
  return {
    ...(rate === undefined ? {} : { rate }),
    ...(burst === undefined ? {} : { burst }),
    ...(dailyQuota === undefined ? {} : { dailyQuota }),
  };
}

/**
 * Where a principal's own usage key is registered: nowhere for the embedded stack (the key names its plan); in a
 * deployed stack's API Gateway (an API key in its tier's usage plan, ADR 0013). A state file made before the stack
 * had its `RestApiId` output names no API: then principals keep their role's shared key and per-principal limits are
 * refused.
 */
function usageKeysFor(info: StackInfo): UsageKeyRegistry | undefined {
  if ((info.target ?? 'embedded') === 'embedded') return LOCAL_USAGE_KEYS;
  if (!info.restApi) return undefined;
  const client = new APIGatewayClient({
    region: info.region,
    // LocalStack serves every API on its one endpoint.
    ...(info.target === 'localstack' && info.endpoints.sqs ? { endpoint: info.endpoints.sqs } : {}),
  });
  return new ApiGatewayUsageKeys(client, info.restApi.namePrefix ?? topology.service, info.restApi);
}
const TEN_YEARS = 10 * 365 * 24 * 3600;

// Only the narrowing changes: grant and unrevoke-perm are checked first (`widen`).
const permissionChanges: Record<string, PermissionChange> = { ungrant: 'ungrant', 'revoke-perm': 'revoke' };

/**
 * Refuses a principal that could call POST /events but emit no event (ADR 0008): it would pass the gateway and get
 * 403 for everything it posts, while `tem explain` of the route alone looked fine.
 */
function checkScope(principal: Pick<PrincipalRecord, 'role' | 'extra' | 'revoked' | 'eventTypes'>, howToFix: string) {
  const { grants, eventTypes } = grantsFor([principal.role], principal);
  const problem = scopeProblem(grants, eventTypes);
  if (problem) throw new Rejection('invalid', `${problem}. ${howToFix}`);
}

function checkPatterns(patterns: readonly string[]): void {
  const bad = patterns.filter((p) => !EventTypePatternSchema.safeParse(p).success);
  if (bad.length > 0) throw new Rejection('invalid', `event-types: not a pattern (*, a.b, a.*): ${bad.join(', ')}`);
}

/**
 * `grant` and `unrevoke-perm` can widen a principal, so the result is checked before it is written; `grant` may set
 * the event types in the same command. The change itself goes through shared/domain/admin.ts (it bumps the epoch).
 */
async function widen(
  store: PrincipalStore,
  keyId: string,
  change: 'grant' | 'unrevoke',
  permission: string,
  eventTypes: string[],
) {
  const key = await store.getApiKey(keyId);
  const principal = key && (await store.getPrincipal(key.principalId));
  // Unknown keys and bad patterns: changePermission answers them as before.
  if (!principal || !isValidGrant(permission)) return changePermission(store, keyId, change, permission);
  checkPatterns(eventTypes);
  const next = {
    ...principal,
    ...(eventTypes.length > 0 ? { eventTypes } : {}),
    extra: change === 'grant' ? [...principal.extra, permission] : principal.extra,
    revoked: change === 'unrevoke' ? principal.revoked.filter((p) => p !== permission) : principal.revoked,
  };
  checkScope(
    next,
    `Give it the event types it may emit: tem keys grant ${keyId} ${INGEST_PERMISSION} --event-types 'PATTERN' (e.g. 'payment.*', or '*')`,
  );
  if (eventTypes.length > 0) await store.putPrincipal({ ...principal, eventTypes });
  const changed = await changePermission(store, keyId, change, permission);
  return eventTypes.length > 0 ? { ...changed, eventTypes } : changed;
}

/** `tem keys ...`: API keys and their principals' permissions, through shared/domain/admin.ts. */
export async function runKeys(argv: string[]): Promise<void> {
  helpIfAsked(argv, keysUsage);
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'create': {
      const args = parse(rest, options.create);
      positionals(args, []);
      const name = required(args, 'name');
      const role = required(args, 'role');
      const expiresIn = intOption(args, 'expires-in', { min: 1, max: TEN_YEARS });
      const eventTypes = list(args, 'event-types');
      const extra = list(args, 'extra');
      const revoked = list(args, 'revoke');
      const limits = limitsOption(args);
      checkPatterns(eventTypes);
      checkScope(
        {
          role,
          extra,
          revoked,
          ...(eventTypes.length > 0 ? { eventTypes } : {}),
        },
        `Give the key the event types it may emit: --event-types 'PATTERN' (e.g. 'payment.*', or '*'); role ${role} has no scope of its own for them`,
      );
      const issued = await withPrincipalStore((store, info) =>
        createApiKey(
          store,
          {
            name,
            role,
            extra,
            revoked,
            eventTypes,
            limits,
            ...(expiresIn === undefined ? {} : { expiresAt: new Date(Date.now() + expiresIn * 1000) }),
          },
          new Date(),
          usageKeysFor(info),
        ),
      );
      return result({ keyId: issued.keyId, apiKey: issued.apiKey, principalId: issued.principalId });
    }
    case 'list': {
      positionals(parse(rest, options.none), []);
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
    case 'limits': {
      const args = parse(rest, options.limits);
      const [keyId] = positionals(args, ['KEYID']);
      const limits = limitsOption(args);
      return result(
        await withPrincipalStore((store, info) => {
          const usageKeys = usageKeysFor(info);
          if (!usageKeys)
            throw new Rejection('invalid', 'limits: this stack has no usage key registry (ADR 0013): role limits only');
          return setLimits(store, keyId, limits, usageKeys);
        }),
      );
    }
    case 'revoke': {
      const [keyId] = positionals(parse(rest, options.none), ['KEYID']);
      const info = readLocalState();
      const revoked = await withPrincipalStore((store) => revokeApiKey(store, keyId), info);
      // Its live WebSocket connections end now rather than at the fan-out's next check (ADR 0014).
      const closed = await closeConnectionsOfKey(info, keyId).catch((error: Error) => `not closed: ${error.message}`);
      return result({ ...revoked, webSocketConnectionsClosed: closed });
    }
    case 'rotate': {
      const args = parse(rest, options.rotate);
      const [keyId] = positionals(args, ['KEYID']);
      const grace = intOption(args, 'grace', { min: 0, max: TEN_YEARS, fallback: 86_400 });
      return result({ ...(await withPrincipalStore((store) => rotateApiKey(store, keyId, grace))) });
    }
    case 'grant': {
      const args = parse(rest, options.grant);
      const [keyId, permission] = positionals(args, ['KEYID', 'PERM']);
      const eventTypes = list(args, 'event-types');
      return result(await withPrincipalStore((store) => widen(store, keyId, 'grant', permission, eventTypes)));
    }
    case 'unrevoke-perm': {
      const [keyId, permission] = positionals(parse(rest, options.none), ['KEYID', 'PERM']);
      return result(await withPrincipalStore((store) => widen(store, keyId, 'unrevoke', permission, [])));
    }
    case 'ungrant':
    case 'revoke-perm': {
      const [keyId, permission] = positionals(parse(rest, options.none), ['KEYID', 'PERM']);
      const change = permissionChanges[sub] as PermissionChange;
      return result(await withPrincipalStore((store) => changePermission(store, keyId, change, permission)));
    }
    default:
      throw usageError(spec, sub === undefined ? 'missing subcommand' : `unknown subcommand "keys ${sub}"`);
  }
}

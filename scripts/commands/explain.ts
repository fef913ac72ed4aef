import { type RouteSpec, topology } from '../../infra/topology';
import { CLAIM_ANY_SOURCE_PERMISSION } from '../../shared/authorizer-context';
import { Rejection } from '../../shared/domain/errors';
import { EventInputSchema } from '../../shared/domain/events';
import { type Decision, decide, eventTypeAllowed, scopeAdmitsHttpEvents } from '../../shared/domain/permissions';
import { callerContextOf, grantsFor, keyRefusal } from '../../shared/domain/principals';
import { roleNamed } from '../../shared/domain/roles';
import { TELEMETRY_EVENT_TYPE } from '../../shared/domain/telemetry';
import type { ApiKeyRecord, PrincipalRecord, PrincipalStore } from '../../shared/ports';
import { parseCommand, positionals, required, usageError } from '../lib/args';
import { result } from '../lib/output';
import { withPrincipalStore } from '../lib/stores';

/** The routes the authorizer guards (public ones check no credential, so there is nothing to explain). */
const routeNames = topology.routes.filter((r) => r.auth !== 'none').map((r) => `${r.method} ${r.path}`);

export const explainUsage = `usage: tem explain --key KEYID --route "METHOD PATH" [--event-type TYPE] [--source SOURCE]
  routes: ${routeNames.map((r) => `"${r}"`).join(', ')}
  --event-type, --source: only for "POST /events", whose events are checked against them after the gateway`;
const spec = {
  usage: explainUsage,
  options: {
    key: { type: 'string' },
    route: { type: 'string' },
    'event-type': { type: 'string' },
    source: { type: 'string' },
  },
} as const;

/** The one function whose requests are also decided by their body (event types, `source`). */
const BODY_CHECKED = 'httpIngest';

export interface Check {
  allowed: boolean;
  rule: string;
  grant?: string;
}

export interface Explanation {
  keyId: string;
  principalId: string;
  role: string;
  keyStatus: string;
  route: string;
  permission: string;
  /** The verdict for this request: what the gateway and the function behind it do. */
  allowed: boolean;
  /** The status a refused request gets: 401 (the credential) or 403 (a check below). */
  status?: 401 | 403;
  /** The deciding rule: the first refusing check, or the route's rule when every check passes. */
  rule: string;
  grant?: string;
  reason: string;
  checks: {
    route?: Check;
    eventType?: Check & { type?: string; scope: string[]; scopeFrom: 'role' | 'principal' };
    source?: Check & { source: string; ownName: string };
  };
}

export interface ExplainInput {
  keyId: string;
  key: ApiKeyRecord;
  principal: PrincipalRecord | undefined;
  route: RouteSpec;
  eventType?: string;
  source?: string;
  now: Date;
}

const fromDecision = (d: Decision): Check => ({
  allowed: d.allowed,
  rule: d.rule,
  ...('grant' in d ? { grant: d.grant } : {}),
});

/**
 * Every part of the decision for one request of one key, in the order the system makes it: the credential (the
 * authorizer, 401), the route permission (the gateway's policy, 403), then for `POST /events` the event-type scope
 * and the source claim (the ingest function, 403). Built from the authorizer's own functions, so it cannot say
 * something the gateway does not do; an integration test compares the two.
 */
export function explainDecision(input: ExplainInput): Explanation {
  const { key, principal, route } = input;
  const refusal = keyRefusal(key, input.now.getTime());
  const base = {
    keyId: input.keyId,
    principalId: key.principalId,
    role: principal?.role ?? '-',
    keyStatus: refusal ?? 'active',
    route: `${route.method} ${route.path}`,
    permission: route.permission,
  };
  const credentialRule = refusal
    ? `key-${refusal}`
    : !principal
      ? 'unknown-principal'
      : !roleNamed(principal.role)
        ? 'unknown-role'
        : undefined;
  if (credentialRule || !principal) {
    const rule = credentialRule ?? 'unknown-principal';
    return { ...base, allowed: false, status: 401, rule, reason: `the credential is refused (${rule})`, checks: {} };
  }

  const { grants, eventTypes } = grantsFor([principal.role], principal);
  const routeCheck = fromDecision(decide(grants, route.permission));
  const checks: Explanation['checks'] = { route: routeCheck };
  const reasons = [
    routeCheck.allowed
      ? `${route.permission} is granted (${routeCheck.rule} ${routeCheck.grant})`
      : `${route.permission} is not granted (${routeCheck.rule}${routeCheck.grant ? ` ${routeCheck.grant}` : ''})`,
  ];
  if (route.function === BODY_CHECKED) {
    const caller = callerContextOf({
      principalId: principal.principalId,
      name: principal.name,
      credential: { type: 'api-key', keyId: input.keyId },
      grants,
      eventTypes,
    });
    const scopeFrom = principal.eventTypes ? 'principal' : 'role';
    const type = input.eventType;
    const matched = type === undefined ? undefined : caller.eventTypes.find((p) => eventTypeAllowed([p], type));
    const typeCheck: Check =
      type === undefined
        ? scopeAdmitsHttpEvents(caller.eventTypes)
          ? { allowed: true, rule: 'scope-not-empty' }
          : { allowed: false, rule: 'event-type-scope-empty' }
        : type === TELEMETRY_EVENT_TYPE
          ? { allowed: false, rule: 'event-type-device-only' }
          : matched === undefined
            ? { allowed: false, rule: 'event-type-not-in-scope' }
            : { allowed: true, rule: 'in-scope', grant: matched };
    checks.eventType = { ...typeCheck, ...(type === undefined ? {} : { type }), scope: caller.eventTypes, scopeFrom };
    reasons.push(
      `event type ${type ?? '(any)'}: ${typeCheck.rule} of the ${scopeFrom}'s scope [${caller.eventTypes.join(', ')}]`,
    );

    const source = input.source ?? principal.name;
    const anySource = decide(grants, CLAIM_ANY_SOURCE_PERMISSION);
    const sourceCheck: Check =
      source === principal.name
        ? { allowed: true, rule: 'own-source' }
        : caller.mayClaimAnySource
          ? { ...fromDecision(anySource), rule: 'any-source' }
          : { allowed: false, rule: 'source-not-own', ...('grant' in anySource ? { grant: anySource.grant } : {}) };
    checks.source = { ...sourceCheck, source, ownName: principal.name };
    reasons.push(`source ${source}: ${sourceCheck.rule}`);
  }

  const refused = [checks.route, checks.eventType, checks.source].find((c) => c && !c.allowed);
  const decisive = refused ?? routeCheck;
  return {
    ...base,
    allowed: refused === undefined,
    ...(refused ? { status: 403 as const } : {}),
    rule: decisive.rule,
    ...(decisive.grant === undefined ? {} : { grant: decisive.grant }),
    reason: reasons.join('; '),
    checks,
  };
}

/** `explainDecision` for a key in the store. */
export async function explainKey(
  store: PrincipalStore,
  keyId: string,
  request: { route: RouteSpec; eventType?: string; source?: string },
  now = new Date(),
): Promise<Explanation> {
  const key = await store.getApiKey(keyId);
  if (!key) throw new Rejection('not-found', `no API key ${keyId}`);
  const principal = await store.getPrincipal(key.principalId);
  return explainDecision({ keyId, key, principal, ...request, now });
}

/** `tem explain`: may this key make this request, and which check decides it. */
export async function runExplain(argv: string[]): Promise<void> {
  const args = parseCommand(argv, spec);
  positionals(args, []);
  const keyId = required(args, 'key');
  const name = required(args, 'route');
  const route = topology.routes.find((r) => `${r.method} ${r.path}` === name);
  if (!route) throw usageError(spec, `unknown route "${name}"`);
  if (route.auth === 'none')
    throw usageError(spec, `route "${name}" is public: no credential is checked, every caller may call it`);
  const { 'event-type': eventType, source } = args.values;
  if ((eventType !== undefined || source !== undefined) && route.function !== BODY_CHECKED)
    throw usageError(spec, `--event-type and --source apply to "POST /events" only, not "${name}"`);
  // The same schema the ingest function applies: an event it would answer with 400 has no permission to explain.
  const probe = EventInputSchema.safeParse({ type: eventType ?? 'probe.event', source, data: {} });
  if (!probe.success)
    throw usageError(
      spec,
      `not a valid event: ${probe.error.issues.map((i) => `${i.path.join('.')} ${i.message}`).join('; ')}`,
    );
  const request = {
    route,
    ...(eventType === undefined ? {} : { eventType }),
    ...(source === undefined ? {} : { source }),
  };
  return result({ ...(await withPrincipalStore((store) => explainKey(store, keyId, request))) });
}

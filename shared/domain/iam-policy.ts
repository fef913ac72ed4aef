import type { RouteSpec } from './routes';

/**
 * IAM policy documents as API Gateway's Lambda authorizers return them, and the evaluation API Gateway applies to
 * them (used by the local gateway and by tests). Pure code.
 */
export interface PolicyStatement {
  Action: string | string[];
  Effect: 'Allow' | 'Deny';
  Resource: string | string[];
}

export interface PolicyDocument {
  Version: string;
  Statement: PolicyStatement[];
}

/** `arn:aws:execute-api:region:account:apiId/stage` from a method ARN `.../stage/VERB/resource/path`. */
export function apiArnPrefix(methodArn: string): string {
  const parts = methodArn.split('/');
  return `${parts[0]}/${parts[1]}`;
}

/** The method ARN pattern of a route: path parameters become `*`. */
export function routeArn(prefix: string, route: Pick<RouteSpec, 'method' | 'path'>): string {
  return `${prefix}/${route.method}${route.path.replace(/\{[^}]+\}/g, '*')}`;
}

/**
 * The policy a principal gets for the whole API, not only the route it called: API Gateway caches one decision per
 * credential for every route, so a policy naming only the current method would wrongly deny the next route.
 */
export function policyForRoutes(
  methodArn: string,
  allowed: readonly Pick<RouteSpec, 'method' | 'path'>[],
): PolicyDocument {
  const prefix = apiArnPrefix(methodArn);
  if (allowed.length === 0)
    return {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: 'Deny', Resource: `${prefix}/*` }],
    };
  return {
    Version: '2012-10-17',
    Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: allowed.map((r) => routeArn(prefix, r)) }],
  };
}

/**
 * Compiled patterns, kept: the broker evaluates a device's policy on every publish, and compiling its patterns again
 * each time cost several percent of the broker's thread at fleet rates. Bounded (a fleet's patterns are one or two per
 * device): when full it starts afresh.
 */
const compiled = new Map<string, RegExp>();
const MAX_COMPILED = 50_000;

function wildcardToRegExp(pattern: string): RegExp {
  const known = compiled.get(pattern);
  if (known) return known;
  const escaped = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  const regExp = new RegExp(`^${escaped}$`);
  if (compiled.size >= MAX_COMPILED) compiled.clear();
  compiled.set(pattern, regExp);
  return regExp;
}

function asList(value: string | string[]): string[] {
  return Array.isArray(value) ? value : [value];
}

function statementApplies(statement: PolicyStatement, resource: string, action: string): boolean {
  const actionMatches = asList(statement.Action).some((a) => wildcardToRegExp(a).test(action));
  return actionMatches && asList(statement.Resource).some((r) => wildcardToRegExp(r).test(resource));
}

/**
 * IAM evaluation: an explicit Deny wins, then an Allow; nothing matching is an implicit deny. Used for API
 * Gateway authorizer policies (`execute-api:Invoke` on a method ARN) and IoT policies (`iot:Publish` on a topic).
 */
export function evaluatePolicy(
  policy: PolicyDocument,
  resource: string,
  action = 'execute-api:Invoke',
): 'Allow' | 'Deny' {
  const applicable = policy.Statement.filter((s) => statementApplies(s, resource, action));
  if (applicable.some((s) => s.Effect === 'Deny')) return 'Deny';
  return applicable.some((s) => s.Effect === 'Allow') ? 'Allow' : 'Deny';
}

import { describe, expect, it } from 'vitest';
import {
  apiArnPrefix,
  evaluatePolicy,
  type PolicyDocument,
  type PolicyStatement,
  policyForRoutes,
  routeArn,
} from '../../shared/domain/iam-policy';

const PREFIX = 'arn:aws:execute-api:eu-west-1:123456789012:abc123';
const arn = (stage: string, verb: string, path: string) => `${PREFIX}/${stage}/${verb}${path}`;
const policy = (...Statement: PolicyStatement[]): PolicyDocument => ({ Version: '2012-10-17', Statement });

describe('evaluatePolicy', () => {
  it('allows what an Allow statement names', () => {
    const p = policy({ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: arn('v1', 'GET', '/healthz') });
    expect(evaluatePolicy(p, arn('v1', 'GET', '/healthz'))).toBe('Allow');
  });

  it('an explicit Deny wins over an Allow, whatever the order', () => {
    const allow: PolicyStatement = { Action: 'execute-api:Invoke', Effect: 'Allow', Resource: `${PREFIX}/*` };
    const deny: PolicyStatement = {
      Action: 'execute-api:Invoke',
      Effect: 'Deny',
      Resource: arn('v1', 'POST', '/events'),
    };
    expect(evaluatePolicy(policy(allow, deny), arn('v1', 'POST', '/events'))).toBe('Deny');
    expect(evaluatePolicy(policy(deny, allow), arn('v1', 'POST', '/events'))).toBe('Deny');
    // the Deny does not spill over to other resources
    expect(evaluatePolicy(policy(deny, allow), arn('v1', 'GET', '/healthz'))).toBe('Allow');
  });

  it('denies implicitly when nothing matches', () => {
    const p = policy({ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: arn('v1', 'GET', '/healthz') });
    expect(evaluatePolicy(p, arn('v1', 'GET', '/events/1'))).toBe('Deny');
    expect(evaluatePolicy(policy(), arn('v1', 'GET', '/healthz'))).toBe('Deny');
  });

  it.each([
    [arn('v1', 'GET', '/events/abc'), 'Allow'],
    [arn('v1', 'GET', '/events/abc/def'), 'Allow'],
    [arn('v1', 'GET', '/events'), 'Deny'],
    [arn('v1', 'POST', '/events/abc'), 'Deny'],
  ])('`*` in Resource: %s -> %s', (methodArn, expected) => {
    const p = policy({ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: arn('v1', 'GET', '/events/*') });
    expect(evaluatePolicy(p, methodArn)).toBe(expected);
  });

  it.each([
    [arn('v1', 'GET', '/healthz'), 'Allow'],
    [arn('v2', 'GET', '/healthz'), 'Allow'],
    [arn('v', 'GET', '/healthz'), 'Deny'],
    [arn('v10', 'GET', '/healthz'), 'Deny'],
  ])('`?` in Resource matches exactly one character: %s -> %s', (methodArn, expected) => {
    const p = policy({ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: arn('v?', 'GET', '/healthz') });
    expect(evaluatePolicy(p, methodArn)).toBe(expected);
  });

  it('treats `.` in a Resource literally, not as a regular-expression wildcard', () => {
    const p = policy({ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: arn('v1', 'GET', '/a.b') });
    expect(evaluatePolicy(p, arn('v1', 'GET', '/a.b'))).toBe('Allow');
    expect(evaluatePolicy(p, arn('v1', 'GET', '/axb'))).toBe('Deny');
  });

  it('accepts Resource as an array', () => {
    const p = policy({
      Action: 'execute-api:Invoke',
      Effect: 'Allow',
      Resource: [arn('v1', 'GET', '/healthz'), arn('v1', 'POST', '/events')],
    });
    expect(evaluatePolicy(p, arn('v1', 'POST', '/events'))).toBe('Allow');
    expect(evaluatePolicy(p, arn('v1', 'GET', '/events/1'))).toBe('Deny');
  });

  it.each<[string | string[], 'Allow' | 'Deny']>([
    ['execute-api:Invoke', 'Allow'],
    [['s3:GetObject', 'execute-api:Invoke'], 'Allow'],
    ['execute-api:*', 'Allow'],
    ['*', 'Allow'],
    ['s3:GetObject', 'Deny'],
    [['s3:*', 'execute-api:ManageConnections'], 'Deny'],
  ])('Action %j -> %s', (Action, expected) => {
    const p = policy({ Action, Effect: 'Allow', Resource: `${PREFIX}/*` });
    expect(evaluatePolicy(p, arn('v1', 'GET', '/healthz'))).toBe(expected);
  });

  it('a Deny whose Action does not apply does not deny', () => {
    const p = policy(
      { Action: 'execute-api:Invoke', Effect: 'Allow', Resource: `${PREFIX}/*` },
      { Action: 's3:*', Effect: 'Deny', Resource: '*' },
    );
    expect(evaluatePolicy(p, arn('v1', 'GET', '/healthz'))).toBe('Allow');
  });
});

describe('apiArnPrefix and routeArn', () => {
  it('takes the api and stage of a method ARN', () => {
    expect(apiArnPrefix(arn('v1', 'GET', '/events/abc'))).toBe(`${PREFIX}/v1`);
  });

  it.each([
    [{ method: 'GET', path: '/events/{id}' }, `${PREFIX}/v1/GET/events/*`],
    [{ method: 'POST', path: '/events' }, `${PREFIX}/v1/POST/events`],
    [{ method: 'DELETE', path: '/a/{x}/b/{y}' }, `${PREFIX}/v1/DELETE/a/*/b/*`],
  ] as const)('routeArn(%j) is %s', (route, expected) => {
    expect(routeArn(`${PREFIX}/v1`, route)).toBe(expected);
  });
});

describe('policyForRoutes', () => {
  const calledArn = arn('v1', 'GET', '/healthz');

  it('turns path parameters into `*` and allows only the given routes', () => {
    const p = policyForRoutes(calledArn, [{ method: 'GET', path: '/events/{id}' }]);
    expect(p.Statement).toEqual([
      { Action: 'execute-api:Invoke', Effect: 'Allow', Resource: [`${PREFIX}/v1/GET/events/*`] },
    ]);
    expect(evaluatePolicy(p, arn('v1', 'GET', '/events/abc'))).toBe('Allow');
    expect(evaluatePolicy(p, arn('v1', 'POST', '/events'))).toBe('Deny');
    expect(evaluatePolicy(p, arn('v1', 'GET', '/events'))).toBe('Deny');
  });

  it('covers routes other than the one called (one cached decision per credential)', () => {
    const p = policyForRoutes(calledArn, [
      { method: 'GET', path: '/healthz' },
      { method: 'POST', path: '/events' },
    ]);
    expect(evaluatePolicy(p, calledArn)).toBe('Allow');
    expect(evaluatePolicy(p, arn('v1', 'POST', '/events'))).toBe('Allow');
    expect(evaluatePolicy(p, arn('v1', 'GET', '/events/abc'))).toBe('Deny');
  });

  it('is scoped to the api and stage of the called method ARN', () => {
    const p = policyForRoutes(calledArn, [{ method: 'GET', path: '/events/{id}' }]);
    expect(evaluatePolicy(p, arn('prod', 'GET', '/events/abc'))).toBe('Deny');
    expect(evaluatePolicy(p, 'arn:aws:execute-api:eu-west-1:123456789012:other/v1/GET/events/abc')).toBe('Deny');
  });

  it('an empty allowed list yields an explicit Deny of the whole stage', () => {
    const p = policyForRoutes(calledArn, []);
    expect(p.Statement).toEqual([{ Action: 'execute-api:Invoke', Effect: 'Deny', Resource: `${PREFIX}/v1/*` }]);
    expect(evaluatePolicy(p, calledArn)).toBe('Deny');
    // explicit: it even overrides an Allow merged in from elsewhere
    const merged = policy(...p.Statement, { Action: 'execute-api:Invoke', Effect: 'Allow', Resource: '*' });
    expect(evaluatePolicy(merged, calledArn)).toBe('Deny');
  });
});

import { describe, expect, it } from 'vitest';
import { routes } from '../../infra/topology';
import { explainDecision } from '../../scripts/commands/explain';
import { runKeys } from '../../scripts/commands/keys';
import { Rejection } from '../../shared/domain/errors';
import { validateEvents } from '../../shared/domain/ingest';
import { INGEST_PERMISSION, type PrincipalGrants, scopeProblem } from '../../shared/domain/permissions';
import { callerContextOf, grantsFor } from '../../shared/domain/principals';
import { RolesDocumentSchema } from '../../shared/domain/roles';
import type { ApiKeyRecord, PrincipalRecord } from '../../shared/ports';

/**
 * The event-type scope is part of the permission model: a principal may call POST /events only with a scope that
 * admits some event (else it is refused at creation), and `tem explain` shows every check the ingest path makes.
 */
const grants = (rolePermissions: string[], extra: string[] = [], revoked: string[] = []): PrincipalGrants => ({
  role: 'r',
  rolePermissions,
  extra,
  revoked,
});

describe('scopeProblem', () => {
  it.each<[string, PrincipalGrants, string[]]>([
    ['reader + extra ingest, no event types', grants(['*.get.*'], [INGEST_PERMISSION]), []],
    ['reader + extra *', grants(['*.get.*'], ['*']), []],
    ['reader + extra events.post.*', grants(['*.get.*'], ['events.post.*']), []],
    [
      'device role + extra ingest: telemetry only comes over MQTT',
      grants([], [INGEST_PERMISSION]),
      ['device.telemetry'],
    ],
  ])('refuses %s, naming the permission and the scope', (_name, g, eventTypes) => {
    const problem = scopeProblem(g, eventTypes);
    expect(problem).toContain(INGEST_PERMISSION);
    expect(problem).toContain('event-type scope');
  });

  it.each<[string, PrincipalGrants, string[]]>([
    ['producer', grants([INGEST_PERMISSION]), ['*']],
    ['reader + extra ingest + its own scope', grants(['*.get.*'], [INGEST_PERMISSION]), ['order.*']],
    ['reader', grants(['*.get.*']), []],
    ['ingest granted but revoked', grants(['*'], [], [INGEST_PERMISSION]), []],
    ['device types below device.*', grants([INGEST_PERMISSION]), ['device.*']],
  ])('accepts %s', (_name, g, eventTypes) => {
    expect(scopeProblem(g, eventTypes)).toBeUndefined();
  });

  it('the roles file may not ship a role that can ingest but emit nothing', () => {
    const parsed = RolesDocumentSchema.safeParse({
      roles: {
        broken: { description: 'x', permissions: ['events.*.*'], eventTypes: [], limits: { rate: 1, burst: 1 } },
      },
    });
    expect(parsed.success).toBe(false);
    expect(parsed.error?.issues[0]?.path).toEqual(['roles', 'broken', 'eventTypes']);
  });
});

describe('tem keys create refuses an incoherent key before writing anything', () => {
  it('reader + --extra events.post.event_ingest: names the missing scope and how to give one', async () => {
    const error = await runKeys(['create', '--name', 'r1', '--role', 'reader', '--extra', INGEST_PERMISSION]).catch(
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(Rejection);
    expect((error as Rejection).kind).toBe('invalid');
    expect((error as Rejection).message).toMatch(/event-type scope is empty/);
    expect((error as Rejection).message).toContain("--event-types 'PATTERN'");
  });

  it('a pattern that is not one is refused as such', async () => {
    const error = await runKeys(['create', '--name', 'r2', '--role', 'producer', '--event-types', 'Pay ments']).catch(
      (e: unknown) => e,
    );
    expect((error as Rejection).message).toContain('not a pattern');
  });
});

describe('explain says what the ingest path does', () => {
  const ingest = routes.find((r) => r.permission === INGEST_PERMISSION);
  if (!ingest) throw new Error('the topology has no ingest route');
  const now = new Date('2026-03-01T12:00:00Z');
  const key: ApiKeyRecord = { keyId: 'k', principalId: 'svc', secretHash: '', status: 'active', createdAt: '' };
  const principal = (role: string, over: Partial<PrincipalRecord> = {}): PrincipalRecord => ({
    principalId: 'svc',
    name: 'svc',
    role,
    extra: [],
    revoked: [],
    createdAt: '',
    ...over,
  });
  // Hand-made principals too: the table can hold what the CLI would refuse today.
  const principals: [string, PrincipalRecord][] = [
    ['producer', principal('producer')],
    ['producer, payment.* only', principal('producer', { eventTypes: ['payment.*'] })],
    ['reader + ingest, no scope', principal('reader', { extra: [INGEST_PERMISSION] })],
    ['reader + ingest + order.*', principal('reader', { extra: [INGEST_PERMISSION], eventTypes: ['order.*'] })],
    ['producer + any_source', principal('producer', { extra: ['events.post.any_source'] })],
    ['admin, any_source revoked', principal('admin', { revoked: ['events.post.any_source'] })],
    ['device + ingest', principal('device', { extra: [INGEST_PERMISSION] })],
  ];
  const types = ['payment.success', 'order.created', 'device.telemetry', 'user.signed_up'];
  const sources = [undefined, 'svc', 'someone-else'];

  for (const [name, record] of principals)
    it(`${name}: every event type and source`, () => {
      const { grants: g, eventTypes } = grantsFor([record.role], record);
      const caller = callerContextOf({
        principalId: record.principalId,
        name: record.name,
        credential: { type: 'api-key', keyId: 'k' },
        grants: g,
        eventTypes,
      });
      for (const type of types)
        for (const source of sources) {
          const explained = explainDecision({
            keyId: 'k',
            key,
            principal: record,
            route: ingest,
            eventType: type,
            ...(source === undefined ? {} : { source }),
            now,
          });
          let ingested: 'accepted' | 'forbidden' = 'accepted';
          try {
            validateEvents([{ type, ...(source === undefined ? {} : { source }), data: {} }], {
              ...caller,
              traceId: 't',
              receivedAt: now,
            });
          } catch (error) {
            if (!(error instanceof Rejection) || error.kind !== 'forbidden') throw error;
            ingested = 'forbidden';
          }
          const verdict = !explained.checks.route?.allowed ? 'gateway-403' : ingested;
          const what = `${type} / ${source ?? '(own)'}: explain ${JSON.stringify(explained.checks)}`;
          expect(explained.allowed, what).toBe(verdict === 'accepted');
          if (!explained.allowed) expect(explained.status, what).toBe(403);
        }
    });

  it('without an event type, an empty scope already refuses POST /events', () => {
    const explained = explainDecision({ keyId: 'k', key, principal: principals[2]?.[1], route: ingest, now });
    expect(explained).toMatchObject({ allowed: false, status: 403, rule: 'event-type-scope-empty' });
    expect(explained.checks.route).toMatchObject({ allowed: true, rule: 'extra', grant: INGEST_PERMISSION });
  });

  it('an unusable credential is a 401 before any permission', () => {
    const revoked = { ...key, status: 'revoked' as const };
    expect(
      explainDecision({ keyId: 'k', key: revoked, principal: principal('admin'), route: ingest, now }),
    ).toMatchObject({ allowed: false, status: 401, rule: 'key-revoked' });
    expect(
      explainDecision({ keyId: 'k', key, principal: principal('no-such-role'), route: ingest, now }),
    ).toMatchObject({ allowed: false, status: 401, rule: 'unknown-role' });
  });
});

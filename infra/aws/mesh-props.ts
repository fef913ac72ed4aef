import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual } from 'node:util';
import alertRulesDocument from '../../policies/alert-rules.json' with { type: 'json' };
import rolesDocument from '../../policies/roles.json' with { type: 'json' };
import { parseAlertRules } from '../../shared/domain/alert-rules';
import { type RolesDocument, RolesDocumentSchema, roles as shippedRoles } from '../../shared/domain/roles';
import type { Topology } from '../topology';
import { STAGES, type Stage } from './stage';

export type StreamCapacity = 'onDemand' | 'provisioned';

/** This package: the functions' sources, its lock file and the shipped policies/. */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const SHIPPED_ROLES = path.join(REPO_ROOT, 'policies', 'roles.json');
const SHIPPED_ALERT_RULES = path.join(REPO_ROOT, 'policies', 'alert-rules.json');

/**
 * How one `TelemetryEventMesh` is deployed. Every prop has a default; together the defaults are the stack `cdk deploy`
 * has always made from this repository. The `-c` context settings of `infra/aws/app.ts` have the same names.
 */
export interface TelemetryEventMeshProps {
  /**
   * Goes into every name the mesh fixes (REST and WebSocket API, usage plans and keys, IoT authorizer and topic rules,
   * stream consumers, the alert e-mail pipe, metric names, the functions' service name), so two meshes live in one
   * account and region. A lower-case letter, then up to 20 lower-case letters, digits or `-`.
   * @default the topology's service name, `tem`: the names of a single deployment as they always were
   */
  readonly namePrefix?: string;
  /**
   * `prod`: tables, stream, signing key and log groups are retained when the stack is deleted, tables have
   * point-in-time recovery and deletion protection, logs are kept a month, alarms fire on the first failure.
   * `dev`: all of it is deleted with the stack, no PITR, logs kept a week, alarms fire on failures that last.
   * @default 'prod' (nothing is lost unless asked for)
   */
  readonly stage?: Stage;
  /**
   * Where every alarm notifies (ALARM and OK): an existing standard SNS topic in the stack's region, whose policy lets
   * CloudWatch publish (docs/runbooks/alarms.md). Imported, not created.
   * @default a topic of the mesh
   */
  readonly alarmTopicArn?: string;
  /** Subscribes this address to the alarm topic. @default no subscription */
  readonly alarmEmail?: string;
  /** Mails raised and resolved device alerts to this address (ADR 0015). @default no alert e-mail path */
  readonly alertEmail?: string;
  /**
   * Devices over MQTT: the IoT custom authorizer and the topic rules (to the stream). Off: no IoT Core resource at all
   * (the functions stay; the alerts function still publishes each alert on MQTT, which reaches nobody). IoT topics are
   * per account and region: two meshes with IoT on in one account both take every device's readings.
   * @default true
   */
  readonly iot?: boolean;
  /**
   * The realtime stream consumers read by enhanced fan-out (a registered consumer each, records pushed in ~70 ms). Off:
   * every consumer polls (~200 ms to 1 s more per hop, no per-consumer-shard-hour charge).
   * @default true
   */
  readonly enhancedFanOut?: boolean;
  /** `onDemand`, or `provisioned` with `shardCount` shards. @default the topology's (`onDemand`) */
  readonly streamCapacity?: StreamCapacity;
  /** The stream's shards; only with `streamCapacity: 'provisioned'`, and required there. */
  readonly shardCount?: number;
  /**
   * A roles document (the schema of policies/roles.json): the usage plans, and what every function that checks
   * permissions is bundled with.
   * @default policies/roles.json of this package
   */
  readonly rolesFile?: string;
  /** An alert rules document (the schema of policies/alert-rules.json). @default policies/alert-rules.json */
  readonly alertRulesFile?: string;
  /** The topology to build. @default infra/topology.ts (tests pass a variant to see a bad one fail synth) */
  readonly topology?: Topology;
  /** Where the functions' `entry` paths and package-lock.json are resolved. @default this package */
  readonly repoRoot?: string;
}

/** Deliberately plain: one address, something@domain.tld, no spaces; SNS itself confirms the address works. */
const EMAIL = /^[^\s@,;]+@[^\s@,;]+\.[^\s@,;]+$/;
/** `arn:<partition>:sns:<region>:<12-digit account>:<topic>`, a standard topic (alarm actions take no FIFO topic). */
const SNS_TOPIC_ARN = /^arn:aws(-[a-z]+)*:sns:[a-z]{2}(-[a-z]+)+-\d:\d{12}:[A-Za-z0-9_-]{1,256}$/;
const NAME_PREFIX = /^[a-z][a-z0-9-]{0,20}$/;

const oneOf = (allowed: readonly unknown[]) => (v: unknown) =>
  allowed.includes(v) ? undefined : `not ${allowed.join(' or ')}`;
const matches = (pattern: RegExp, what: string) => (v: unknown) =>
  typeof v === 'string' && pattern.test(v) ? undefined : `not ${what}`;

/** Each prop's own check (the problem, or undefined): shared with app.ts, which names the `-c` setting instead. */
export const PROP_CHECKS: Readonly<Record<string, (value: unknown) => string | undefined>> = {
  namePrefix: matches(
    NAME_PREFIX,
    'a lower-case letter, then up to 20 lower-case letters, digits or - ([a-z][a-z0-9-]{0,20})',
  ),
  stage: oneOf(STAGES),
  alarmTopicArn: matches(SNS_TOPIC_ARN, 'an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)'),
  alarmEmail: matches(EMAIL, 'an e-mail address'),
  alertEmail: matches(EMAIL, 'an e-mail address'),
  iot: oneOf([true, false]),
  enhancedFanOut: oneOf([true, false]),
  streamCapacity: oneOf(['onDemand', 'provisioned']),
  shardCount: (v) =>
    Number.isInteger(v) && (v as number) >= 1 ? undefined : 'not a whole number of shards, 1 or more',
};

/** The props with their defaults applied, checked; what the mesh is built from. */
export interface MeshSettings {
  namePrefix: string;
  stage: Stage;
  alarmTopicArn?: string;
  alarmEmail?: string;
  alertEmail?: string;
  iot: boolean;
  enhancedFanOut: boolean;
  /** Only when the props override the topology's capacity. */
  streamCapacity?: { capacity: StreamCapacity; shardCount?: number };
  roles: RolesDocument['roles'];
  /** Files other than the shipped ones the functions must be bundled with (both, when either differs). */
  policyFiles?: { roles: string; alertRules: string };
}

/** A prop and what is wrong with it: the message names the prop. */
const invalid = (prop: string, value: unknown, problem: string) =>
  new Error(`TelemetryEventMesh ${prop}${value === undefined ? '' : `=${JSON.stringify(value)}`}: ${problem}`);

function readJson(prop: string, file: string): unknown {
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw invalid(prop, file, error instanceof Error ? error.message : String(error));
  }
}

/** A policy document from its file, parsed by the schema the functions parse it with at cold start. */
function policyFile<T>(prop: string, file: string, parse: (doc: unknown) => T): { doc: unknown; parsed: T } {
  const doc = readJson(prop, file);
  try {
    return { doc, parsed: parse(doc) };
  } catch (error) {
    throw invalid(prop, file, `not a valid document: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/**
 * Applies the defaults and checks every prop, so a mistake fails synth naming the prop instead of failing a deploy
 * halfway (or deploying something else than asked). `region` is the stack's, when known.
 */
export function meshSettings(props: TelemetryEventMeshProps, t: Topology, region?: string): MeshSettings {
  for (const [prop, check] of Object.entries(PROP_CHECKS)) {
    const value: unknown = props[prop as keyof TelemetryEventMeshProps];
    const problem = value === undefined ? undefined : check(value);
    if (problem) throw invalid(prop, value, problem);
  }
  const { streamCapacity, shardCount } = props;
  if (streamCapacity === 'provisioned' && shardCount === undefined)
    throw invalid('shardCount', shardCount, 'required with streamCapacity provisioned');
  if (shardCount !== undefined && streamCapacity !== 'provisioned')
    throw invalid('shardCount', shardCount, 'only for streamCapacity provisioned (on-demand streams size themselves)');
  const topicRegion = props.alarmTopicArn?.split(':')[3];
  if (topicRegion && region && topicRegion !== region)
    throw invalid(
      'alarmTopicArn',
      props.alarmTopicArn,
      `the topic must be in the stack's region ${region} (CloudWatch alarms notify topics of their own region)`,
    );
  if (props.alertEmail && !Object.values(t.queues).some((q) => q.alertMessages))
    throw invalid('alertEmail', props.alertEmail, 'the topology has no queue marked alertMessages to mail from');

  const roles = props.rolesFile
    ? policyFile('rolesFile', props.rolesFile, (d) => RolesDocumentSchema.parse(d))
    : { doc: rolesDocument, parsed: { roles: shippedRoles } };
  const rules = props.alertRulesFile
    ? policyFile('alertRulesFile', props.alertRulesFile, parseAlertRules)
    : { doc: alertRulesDocument, parsed: [] };
  const custom = !isDeepStrictEqual(roles.doc, rolesDocument) || !isDeepStrictEqual(rules.doc, alertRulesDocument);
  return {
    namePrefix: props.namePrefix ?? t.service,
    stage: props.stage ?? 'prod',
    ...(props.alarmTopicArn ? { alarmTopicArn: props.alarmTopicArn } : {}),
    ...(props.alarmEmail ? { alarmEmail: props.alarmEmail } : {}),
    ...(props.alertEmail ? { alertEmail: props.alertEmail } : {}),
    iot: props.iot ?? true,
    enhancedFanOut: props.enhancedFanOut ?? true,
    ...(streamCapacity ? { streamCapacity: { capacity: streamCapacity, ...(shardCount ? { shardCount } : {}) } } : {}),
    roles: roles.parsed.roles,
    ...(custom
      ? {
          policyFiles: {
            roles: props.rolesFile ?? SHIPPED_ROLES,
            alertRules: props.alertRulesFile ?? SHIPPED_ALERT_RULES,
          },
        }
      : {}),
  };
}

/**
 * The topology as this deployment runs it: the stream's capacity, polling instead of enhanced fan-out, no topic rules
 * without IoT. Checked first as declared (`validateTopology`); these changes keep it valid for AWS.
 */
export function deployedTopology(t: Topology, s: MeshSettings): Topology {
  const capacity = s.streamCapacity;
  return {
    ...t,
    streams: capacity
      ? (Object.fromEntries(
          Object.entries(t.streams).map(([n, spec]) => [
            n,
            { ...spec, capacity: capacity.capacity, shardCount: capacity.shardCount ?? spec.shardCount },
          ]),
        ) as Topology['streams'])
      : t.streams,
    streamConsumers: s.enhancedFanOut
      ? t.streamConsumers
      : t.streamConsumers.map((c) => ({ ...c, readMode: 'polling' })),
    topicRules: s.iot ? t.topicRules : {},
  };
}

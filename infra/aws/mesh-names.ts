import { glueName } from './build';

/**
 * Every name the mesh fixes itself (the rest CloudFormation generates, unique by construction). Two meshes in one
 * account and region differ by `namePrefix`, so each of these names carries it.
 *
 * The default prefix is the topology's service name (`tem`), and under it every name is the one a single deployment
 * had before the construct existed (`tem-api`, IoT authorizer `TemDeviceAuthorizer`, rule `deviceTelemetry`,
 * consumers `<stack>-<function>`): an existing stack updates in place, and devices keep the authorizer and Basic
 * Ingest topic they already use.
 */
export class MeshNames {
  /** The prefix keeps the names a single deployment always had. */
  readonly legacy: boolean;

  constructor(
    readonly prefix: string,
    service: string,
    private readonly stackName: string,
  ) {
    this.legacy = prefix === service;
  }

  /** `<prefix>-<what>`: `tem-api`, `tem-ws`, `tem-role-admin`. */
  dashed(what: string): string {
    return `${this.prefix}-${what}`;
  }

  /** Also the `service` of every log line, trace and EMF metric (POWERTOOLS_SERVICE_NAME). */
  get service(): string {
    return this.prefix;
  }

  /** An IoT custom authorizer name ([\w=,@-]). */
  iotAuthorizer(name: string): string {
    return this.legacy ? name : `${this.prefix}-${name}`;
  }

  /** An IoT topic rule name: letters, digits and `_` only, so the prefix's `-` becomes `_` (never in a prefix). */
  topicRule(name: string): string {
    return this.legacy ? name : `${this.prefix.replace(/-/g, '_')}_${name}`;
  }

  /** A name unique per stack too: registered stream consumers, the alert e-mail pipe. */
  inStack(what: string): string {
    return this.legacy ? `${this.stackName}-${what}` : `${this.stackName}-${this.prefix}-${what}`;
  }

  /**
   * The Glue database of the mesh's archive tables: unique per account and region as the stack name and prefix are,
   * in Athena's letters (lowercase, digits, `_`): `telemetry_event_mesh`, `embedding_fleet`.
   */
  glueDatabase(): string {
    return glueName(this.legacy ? this.stackName : `${this.stackName}_${this.prefix}`);
  }

  /** What people read: topic display names (`<stack> alarms`). */
  display(what: string): string {
    return this.legacy ? `${this.stackName} ${what}` : `${this.stackName} ${this.prefix} ${what}`;
  }

  /** A metric the mesh's log metric filters publish (namespace `TelemetryEventMesh`, no dimension). */
  metric(name: string): string {
    return this.legacy ? name : `${this.prefix}-${name}`;
  }
}

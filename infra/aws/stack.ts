import { type CfnElement, Stack, type StackProps } from 'aws-cdk-lib';
import type * as apigw from 'aws-cdk-lib/aws-apigateway';
import type { Construct } from 'constructs';
import type { FunctionName } from '../topology';
import { logicalIdWithoutParts } from './logical-ids';
import type { TelemetryEventMeshProps } from './mesh-props';
import { TelemetryEventMesh } from './telemetry-event-mesh';
import type { TemFunction } from './tem-function';

export type TelemetryEventMeshStackProps = StackProps & TelemetryEventMeshProps;

/**
 * The stack `cdk deploy` makes from this repository (infra/aws/app.ts): one `TelemetryEventMesh`, nothing else. Its
 * resources keep the logical ids they had before the mesh was a construct of its own, so a deployed stack updates in
 * place (`logicalIdWithoutParts`).
 */
export class TelemetryEventMeshStack extends Stack {
  readonly mesh: TelemetryEventMesh;
  /** Shortcuts into the mesh: its functions by topology name, its API methods by `METHOD /path`. */
  readonly functions: Record<FunctionName, TemFunction>;
  readonly methods: Record<string, apigw.Method>;

  constructor(scope: Construct, id: string, props: TelemetryEventMeshStackProps = {}) {
    super(scope, id, props);
    // `Default`: CDK leaves it out of the names it derives from construct paths, as if the mesh's resources were the
    // stack's own.
    this.mesh = new TelemetryEventMesh(this, 'Default', props);
    this.functions = this.mesh.functions;
    this.methods = this.mesh.methods;
  }

  protected override allocateLogicalId(element: CfnElement): string {
    return logicalIdWithoutParts(element, (e) => super.allocateLogicalId(e), this);
  }
}

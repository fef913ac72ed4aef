/**
 * The package entry for CDK users: the `TelemetryEventMesh` construct and its props, the stack this repository
 * deploys, and the cdk-nag wiring (`addNagChecks(app)` fails synth on an unacknowledged finding).
 */

export type { StreamCapacity, TelemetryEventMeshProps } from './mesh-props';
export { addNagChecks } from './nag';
export { TelemetryEventMeshStack, type TelemetryEventMeshStackProps } from './stack';
export { STAGES, type Stage } from './stage';
export { TelemetryEventMesh } from './telemetry-event-mesh';

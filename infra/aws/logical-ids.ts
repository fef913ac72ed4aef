import type { CfnElement, Stack } from 'aws-cdk-lib';
import type { IConstruct } from 'constructs';

const TRANSPARENT = Symbol.for('telemetry-event-mesh.logicalIdTransparent');

/**
 * Marks a construct that groups resources without being part of their identity: the mesh and its parts (storage,
 * streams, functions, HTTP API, device gateway, observability). See `logicalIdWithoutParts`.
 */
export function groupsOnly<T extends IConstruct>(construct: T): T {
  Object.defineProperty(construct, TRANSPARENT, { value: true });
  return construct;
}

const isGroupOnly = (c: IConstruct): boolean => (c as unknown as Record<symbol, unknown>)[TRANSPARENT] === true;

/**
 * The logical id an element had before the stack was split into a construct and its parts: its construct path
 * without them, which CDK then turns into an id as always. A deployed stack keeps every logical id, so nothing is
 * replaced (a new id would replace a table, or fail on a fixed-name IoT rule). Only for a stack holding one mesh: two
 * would collide, and CDK refuses a template with one logical id twice.
 */
export function logicalIdWithoutParts(
  element: CfnElement,
  allocate: (element: CfnElement) => string,
  stack: Stack,
): string {
  const scopes = element.node.scopes.filter((s) => !isGroupOnly(s));
  // `Stack.allocateLogicalId` reads only `node.scopes` and `stack` of the element.
  return allocate({ node: { scopes }, stack } as unknown as CfnElement);
}

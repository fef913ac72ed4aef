import { DynamoFront } from './dynamodb-front';
import type { Engine } from './engines';
import { physicalName } from './provision';

/**
 * DynamoDB's engines of one table each (ADR 0017), as the stack wires them: the front that routes between them and
 * the service's default engine, and what the state file says of them. Nothing here when the stack runs one process.
 */
export function dynamoFrontFor(defaultEngine: Engine, tableEngines: readonly Engine[]): DynamoFront | undefined {
  if (tableEngines.length === 0) return undefined;
  return new DynamoFront({
    defaultEngine: defaultEngine.url,
    engineOf: new Map(tableEngines.map((e) => [physicalName(e.instance ?? ''), e.url])),
  });
}

export function tableEnginesInfo(tableEngines: readonly Engine[]) {
  if (tableEngines.length === 0) return {};
  return {
    tableEngines: Object.fromEntries(
      tableEngines.map((e) => [physicalName(e.instance ?? ''), { engine: e.engine, pid: e.pid, url: e.url }]),
    ),
  };
}

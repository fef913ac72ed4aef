import { DynamoFront } from './dynamodb-front';
import type { Engine, ServiceName } from './engines';
import { physicalName } from './provision';
import type { LocalStackInfo } from './stack-info';

/**
 * The stack's emulator processes: one per service and, when DynamoDB runs per table (ADR 0017), one more per table,
 * with the front that routes between them and the service's default engine. A fault injected into a service reaches
 * every process of it.
 */
export class EngineSet {
  /** One engine per service (for DynamoDB: the default one, holding any table made from outside). */
  readonly services = {} as Record<ServiceName, Engine>;
  /** DynamoDB's engines of one table each (empty with `TEM_DYNAMODB_PROCESSES=one`). */
  readonly tables: Engine[] = [];

  /** The processes that are the service. */
  of(service: ServiceName): Engine[] {
    return service === 'dynamodb' ? [this.services.dynamodb, ...this.tables] : [this.services[service]];
  }

  all(): Engine[] {
    return [...Object.values(this.services), ...this.tables];
  }

  /** Synchronous last resort, for exit handlers. */
  killAll(): void {
    for (const engine of this.all()) engine.kill();
  }

  /** From now on an exit of any engine is expected (the stack is stopping). */
  expectExits(): void {
    for (const engine of this.all()) engine.expectExit();
  }

  async outage(service: ServiceName): Promise<void> {
    await Promise.all(this.of(service).map((e) => e.outage()));
  }

  async recover(service: ServiceName): Promise<void> {
    await Promise.all(this.of(service).map((e) => e.recover()));
  }

  /** The front of the per-table engines; none when every table is in one process. */
  dynamoFront(): DynamoFront | undefined {
    if (this.tables.length === 0) return undefined;
    return new DynamoFront({
      defaultEngine: this.services.dynamodb.url,
      engineOf: new Map(this.tables.map((e) => [tableOf(e), e.url])),
    });
  }

  /** What the state file says of the engines. */
  info(): Pick<LocalStackInfo, 'engines' | 'tableEngines'> {
    const describe = (e: Engine) => ({ engine: e.engine, pid: e.pid, url: e.url });
    return {
      engines: Object.fromEntries(
        Object.entries(this.services).map(([s, e]) => [s, describe(e)]),
      ) as LocalStackInfo['engines'],
      ...(this.tables.length > 0
        ? { tableEngines: Object.fromEntries(this.tables.map((e) => [tableOf(e), describe(e)])) }
        : {}),
    };
  }
}

/** The physical name of the table a per-table engine holds (its instance is the table's logical name). */
function tableOf(engine: Engine): string {
  return physicalName(engine.instance ?? '');
}

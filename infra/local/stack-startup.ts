import { rmSync } from 'node:fs';
import path from 'node:path';
import type { FunctionName, ResourceName, Topology } from '../topology';
import type { EngineSet } from './engine-set';
import { type chooseEngines, Engine, type ServiceName } from './engines';
import { localFunctionEnv } from './function-env';
import { bundleFunctions, LocalFunction } from './function-host';
import { type Endpoints, LOCAL_REGION } from './provision';

type Bundles = Awaited<ReturnType<typeof bundleFunctions>>;

/**
 * The engines, one per service (and, per table, one DynamoDB engine for each table, ADR 0017) started while esbuild bundles the
 * functions (the slowest steps of a start, in parallel). Each engine is put in `engines` and its stop in `cleanups` as
 * soon as it exists, so a failed start stops it.
 */
export async function startEnginesWhileBundling(deps: {
  topology: Topology;
  choice: ReturnType<typeof chooseEngines>;
  stateDir: string;
  /** Filled in: one engine per service, and one per topology table when the choice is `per-table`. */
  engines: EngineSet;
  onEngineExit: (engine: Engine, code: number | null) => void;
  cleanups: (() => Promise<unknown> | undefined)[];
  progress: (line: string) => void;
}): Promise<Bundles> {
  const { choice, engines, cleanups, progress } = deps;
  const startService = async (service: ServiceName, peers: { s3?: string } = {}): Promise<Engine> => {
    const engine = await Engine.create(service, choice, deps.stateDir, deps.onEngineExit, undefined, peers);
    engines.services[service] = engine;
    cleanups.push(() => engine.stop());
    const t0 = Date.now();
    await engine.start();
    progress(`${engine.engine} (${service}) listening on ${engine.url} in ${Date.now() - t0} ms`);
    return engine;
  };
  const tables = choice.dynamodbProcesses === 'per-table' ? Object.keys(deps.topology.tables) : [];
  const buildDir = path.join(deps.stateDir, 'build');
  rmSync(buildDir, { recursive: true, force: true });
  const [bundles] = await Promise.all([
    bundleFunctions(deps.topology.functions, buildDir).then((b) => {
      progress(`bundled ${Object.keys(b).length} functions with esbuild`);
      return b;
    }),
    ...(['kinesis', 'dynamodb', 'sqs'] as const).map((service) => startService(service)),
    // Firehose is told where S3 is when it starts.
    startService('s3').then((s3) => startService('firehose', { s3: s3.url })),
    ...tables.map(async (table) => {
      const engine = await Engine.create('dynamodb', choice, deps.stateDir, deps.onEngineExit, table);
      engines.tables.push(engine);
      cleanups.push(() => engine.stop());
      await engine.start();
    }),
  ]);
  if (tables.length > 0) progress(`${choice.dynamodb}: one process per table (${tables.length}), behind one endpoint`);
  return bundles;
}

/** One local Lambda per topology function, with the settings its bindings give it (`localFunctionEnv`). */
export function createFunctions(deps: {
  topology: Topology;
  bundles: Bundles;
  endpoints: Endpoints;
  resources: Record<ResourceName, string>;
  logLevel: string;
  settings: Readonly<Record<string, string>> | undefined;
  onLogLine: (functionName: string, line: string) => void;
}): Record<FunctionName, LocalFunction> {
  const functions = {} as Record<FunctionName, LocalFunction>;
  for (const [name, spec] of Object.entries(deps.topology.functions) as [
    FunctionName,
    Topology['functions'][FunctionName],
  ][]) {
    const env = localFunctionEnv({
      name,
      spec,
      region: LOCAL_REGION,
      endpoints: deps.endpoints,
      resources: deps.resources,
      logLevel: deps.logLevel,
      overrides: deps.settings,
    });
    functions[name] = new LocalFunction(name, spec, deps.bundles[name], env, deps.onLogLine);
  }
  return functions;
}

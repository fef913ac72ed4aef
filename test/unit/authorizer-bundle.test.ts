import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { bundleOptions, localTarget } from '../../infra/bundling';
import { esbuildOptions } from '../../infra/local/function-host';

/**
 * What a handler's bundle carries of the topology (issue 13): the authorizer builds its IAM policy from the route
 * table, so it bundles that table and not the functions, resources, consumers or checks of the whole description.
 */
async function topologyInputs(entry: string): Promise<string[]> {
  const result = await build({
    ...esbuildOptions(bundleOptions(localTarget())),
    entryPoints: [entry],
    write: false,
    outdir: 'out',
    metafile: true,
    logLevel: 'silent',
  });
  return Object.keys(result.metafile.inputs)
    .filter((input) => input.startsWith('infra/'))
    .sort();
}

describe('the topology a handler bundles', () => {
  it('the HTTP authorizer: only the route table', async () => {
    expect(await topologyInputs('functions/authorizers/api-authorizer.ts')).toEqual(['infra/topology/routes.ts']);
  });

  it.each([
    'functions/websocket/ws-authorizer.ts',
    'functions/websocket/ws-connections.ts',
    'functions/websocket/ws-fanout.ts',
    'functions/websocket/ws-sweep.ts',
  ])('%s: only the resources (the WebSocket API and its limits)', async (entry) => {
    expect(await topologyInputs(entry)).toEqual(['infra/topology/resources.ts']);
  });
});

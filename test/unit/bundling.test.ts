import { Runtime } from 'aws-cdk-lib/aws-lambda';
import { describe, expect, it } from 'vitest';
import { LAMBDA_BUNDLING, lambdaBundling } from '../../infra/aws/tem-function';
import { bundleOptions, localTarget, nodeTarget } from '../../infra/bundling';
import { esbuildOptions } from '../../infra/local/function-host';

/** What a bundle is, whichever tool builds it: CDK's `NodejsFunction` props or the local esbuild options. */
function fromLambda(b: typeof LAMBDA_BUNDLING) {
  return {
    format: b.format,
    target: b.target,
    minify: b.minify,
    sourcemap: b.sourceMap,
    mainFields: b.mainFields,
    banner: b.banner,
    external: b.externalModules,
  };
}
function fromLocal(b: ReturnType<typeof esbuildOptions>) {
  return {
    format: b.format,
    target: b.target,
    minify: b.minify,
    sourcemap: b.sourcemap,
    mainFields: b.mainFields,
    banner: b.banner.js,
    external: b.external,
  };
}

describe('one bundling configuration for both targets (infra/bundling.ts)', () => {
  const local = esbuildOptions(bundleOptions(localTarget()));

  it('AWS and the local stack bundle alike: ESM, minified, source map, ESM builds first, nothing external', () => {
    const { target: awsTarget, ...aws } = fromLambda(LAMBDA_BUNDLING);
    const { target: localBuildTarget, ...here } = fromLocal(local);
    expect(here).toEqual(aws);
    expect(aws).toEqual({
      format: 'esm',
      minify: true,
      sourcemap: true,
      mainFields: ['module', 'main'],
      banner: expect.stringContaining('const require = '),
      external: [],
    });
    expect(local).toMatchObject({ bundle: true, platform: 'node' });
    // CDK never falls back to Docker (no Docker in CI or offline synth).
    expect(LAMBDA_BUNDLING.forceDockerBundling).toBe(false);
    expect([awsTarget, localBuildTarget]).toEqual(['node22', localTarget()]);
  });

  it('each translation carries every shared option, the target included', () => {
    const options = { ...bundleOptions('node99'), minify: false, mainFields: ['main'], external: ['x'] };
    expect(fromLambda(lambdaBundling(options))).toEqual(fromLocal(esbuildOptions(options)));
    expect(fromLocal(esbuildOptions(options))).toMatchObject({ target: 'node99', minify: false, external: ['x'] });
  });

  it('targets the Node.js each runs on: the Lambda runtime in AWS, the running Node locally', () => {
    expect(nodeTarget(Runtime.NODEJS_22_X.name)).toBe('node22');
    expect(nodeTarget('nodejs20.x')).toBe('node20');
    expect(nodeTarget('20.20.2')).toBe('node20');
    expect(nodeTarget('v22.11.0')).toBe('node22');
    expect(localTarget()).toBe(`node${process.versions.node.split('.')[0]}`);
    expect(() => nodeTarget('python3.12')).toThrow(/not a Node.js runtime/);
  });
});

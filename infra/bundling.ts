/**
 * How every function is bundled, on both targets: `NodejsFunction` for AWS (infra/aws/tem-function.ts) and the local
 * stack's esbuild build (infra/local/function-host.ts) take these options, so the artefact a test runs locally is
 * the one AWS runs, minified, with its source map. Only the target differs: the Node.js the bundle runs on (the
 * Lambda runtime in AWS; locally the Node running the stack). No CDK import here: the local stack never loads it.
 */
export interface BundleOptions {
  format: 'esm';
  platform: 'node';
  /** esbuild's target, `node<major>`. */
  target: string;
  minify: boolean;
  /** A linked `.map` beside each bundle; stack traces use it with `--enable-source-maps` (or setSourceMapsEnabled). */
  sourcemap: true;
  /** Prefer the ESM builds (AWS SDK v3 ships both) so esbuild can tree-shake them. */
  mainFields: string[];
  /** Code put before the bundle. */
  banner: string;
  /** Modules left out of the bundle: none, so the code runs the versions pinned in package-lock.json everywhere. */
  external: string[];
}

/**
 * The ESM bundle still contains CommonJS dependencies that call `require`; ESM has no `require`, so define one. The
 * import is aliased so that it cannot clash with a bundled module's own top-level `createRequire`.
 */
export const ESM_REQUIRE_BANNER =
  "import { createRequire as __temCreateRequire } from 'module'; const require = __temCreateRequire(import.meta.url);";

/** The options for a bundle that runs on `target`. */
export function bundleOptions(target: string): BundleOptions {
  return {
    format: 'esm',
    platform: 'node',
    target,
    minify: true,
    sourcemap: true,
    mainFields: ['module', 'main'],
    banner: ESM_REQUIRE_BANNER,
    external: [],
  };
}

/** `nodejs22.x` (a Lambda runtime's name) or `22.11.0` (a Node version) → `node22`. */
export function nodeTarget(runtimeOrVersion: string): string {
  const major = /^(?:nodejs)?v?(\d+)[.]/.exec(runtimeOrVersion)?.[1];
  if (major === undefined) throw new Error(`not a Node.js runtime or version: "${runtimeOrVersion}"`);
  return `node${major}`;
}

/** The local stack runs its bundles on the Node that runs it. */
export const localTarget = (): string => nodeTarget(process.versions.node);

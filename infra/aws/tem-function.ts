import * as path from 'node:path';
import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { ApplicationLogLevel, Architecture, LoggingFormat, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import {
  type BundlingOptions,
  NodejsFunction,
  type NodejsFunctionProps,
  OutputFormat,
} from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { type BundleOptions, bundleOptions, nodeTarget } from '../bundling';
import type { FunctionSpec } from '../topology';

/** Props the stack may still choose per function; everything else is fixed by `TemFunction`. */
export type TemFunctionProps = Omit<
  NodejsFunctionProps,
  | 'entry'
  | 'handler'
  | 'runtime'
  | 'architecture'
  | 'tracing'
  | 'bundling'
  | 'logGroup'
  | 'loggingFormat'
  | 'applicationLogLevelV2'
  | 'role'
  | 'memorySize'
  | 'timeout'
  | 'description'
  | 'depsLockFilePath'
  | 'projectRoot'
> & {
  spec: FunctionSpec;
  /** Absolute path of the repository: `spec.entry` and the lock file are relative to it. */
  repoRoot: string;
  applicationLogLevel?: ApplicationLogLevel;
  /** Its log group's retention and removal policy (the mesh's stage decides them). */
  logGroupRetention?: logs.RetentionDays;
  logGroupRemovalPolicy?: RemovalPolicy;
};

/** The runtime of every function; its bundle targets this Node.js (infra/bundling.ts). */
const RUNTIME = Runtime.NODEJS_22_X;

/** The bundle options both targets share (infra/bundling.ts) as `NodejsFunction` bundling props. */
export function lambdaBundling(options: BundleOptions): BundlingOptions {
  return {
    // `format` is ESM on both targets (the type allows nothing else); CDK always bundles for platform node.
    format: OutputFormat.ESM,
    target: options.target,
    minify: options.minify,
    sourceMap: options.sourcemap,
    mainFields: options.mainFields,
    banner: options.banner,
    externalModules: options.external,
    // esbuild is a devDependency; never fall back to a Docker build (CI and offline synth have no Docker).
    forceDockerBundling: false,
  };
}

/** What every function's bundle is built with in AWS. */
export const LAMBDA_BUNDLING = lambdaBundling(bundleOptions(nodeTarget(RUNTIME.name)));

/** The Powertools tracer's settings on every function (test/infra/tracing.test.ts). */
const TRACER_ENV = {
  POWERTOOLS_TRACE_ENABLED: 'true',
  POWERTOOLS_TRACER_CAPTURE_RESPONSE: 'false',
} as const;

/**
 * The one way this project builds a Lambda function: Node.js 22 on arm64, ESM bundled locally by esbuild, X-Ray
 * tracing, JSON logs into a log group with a retention. No business logic here: the spec and bindings come from the
 * topology.
 */
export class TemFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: TemFunctionProps) {
    const {
      spec,
      repoRoot,
      applicationLogLevel = ApplicationLogLevel.INFO,
      environment,
      logGroupRetention = logs.RetentionDays.ONE_MONTH,
      logGroupRemovalPolicy,
      ...rest
    } = props;

    // Created beside the function (a subclass cannot add children before `super`) so the role can be scoped to this
    // log group instead of AWSLambdaBasicExecutionRole's logs:* on every log group in the account.
    const logGroup = new logs.LogGroup(scope, `${id}LogGroup`, {
      retention: logGroupRetention,
      ...(logGroupRemovalPolicy ? { removalPolicy: logGroupRemovalPolicy } : {}),
    });
    const role = new iam.Role(scope, `${id}Role`, {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of ${id}: its log group plus the resources bound in the topology`,
    });
    logGroup.grantWrite(role);

    super(scope, id, {
      ...rest,
      entry: path.join(repoRoot, spec.entry),
      handler: 'handler',
      description: spec.description,
      memorySize: spec.memoryMb,
      timeout: Duration.seconds(spec.timeoutSeconds),
      runtime: RUNTIME,
      architecture: Architecture.ARM_64,
      tracing: Tracing.ACTIVE,
      role,
      logGroup,
      loggingFormat: LoggingFormat.JSON,
      applicationLogLevelV2: applicationLogLevel,
      depsLockFilePath: path.join(repoRoot, 'package-lock.json'),
      projectRoot: repoRoot,
      environment: {
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: 'tem',
        POWERTOOLS_LOG_LEVEL: applicationLogLevel,
        // The Powertools tracer records into the active X-Ray trace (functions/commons.ts); stated, as the local stack
        // states it off. Responses stay out of the segments (they may hold event data).
        ...TRACER_ENV,
        ...spec.environment,
        ...environment,
      },
      bundling: LAMBDA_BUNDLING,
    });
  }
}

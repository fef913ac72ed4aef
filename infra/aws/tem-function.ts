import * as path from 'node:path';
import { Duration } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { ApplicationLogLevel, Architecture, LoggingFormat, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, type NodejsFunctionProps, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
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
};

// The ESM bundle still contains CommonJS dependencies that call `require`; ESM has no `require`, so define one.
const ESM_REQUIRE_BANNER = "import { createRequire } from 'module'; const require = createRequire(import.meta.url);";

/**
 * The one way this project builds a Lambda function: Node.js 22 on arm64, ESM bundled locally by esbuild, X-Ray
 * tracing, JSON logs into a log group with a retention. No business logic here: the spec and bindings come from the
 * topology.
 */
export class TemFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: TemFunctionProps) {
    const { spec, repoRoot, applicationLogLevel = ApplicationLogLevel.INFO, environment, ...rest } = props;

    // Created beside the function (a subclass cannot add children before `super`) so the role can be scoped to this
    // log group instead of AWSLambdaBasicExecutionRole's logs:* on every log group in the account.
    const logGroup = new logs.LogGroup(scope, `${id}LogGroup`, {
      retention: logs.RetentionDays.ONE_MONTH,
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
      runtime: Runtime.NODEJS_22_X,
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
        ...spec.environment,
        ...environment,
      },
      bundling: {
        format: OutputFormat.ESM,
        target: 'node22',
        minify: true,
        sourceMap: true,
        // Prefer the ESM builds (AWS SDK v3 ships both) so esbuild can tree-shake them.
        mainFields: ['module', 'main'],
        banner: ESM_REQUIRE_BANNER,
        // Bundle the SDK too: the deployed code runs the versions pinned in package-lock.json, as the local stack does.
        externalModules: [],
        // esbuild is a devDependency; never fall back to a Docker build (CI and offline synth have no Docker).
        forceDockerBundling: false,
      },
    });
  }
}

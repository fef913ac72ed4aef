import { Duration, Stack } from 'aws-cdk-lib';
import * as apigw from 'aws-cdk-lib/aws-apigateway';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct, type IConstruct } from 'constructs';
import type { FunctionName, Topology } from '../topology';
import type { StageSettings } from './stage';
import type { TemFunction } from './tem-function';

/**
 * API Gateway stage throttling for every method (seed: rate limiting), a ceiling against floods before the authorizer
 * and the functions are invoked at all. Steady requests per second and the bucket size for bursts above it; both stay
 * under the account's regional default (10 000 rps / 5 000 burst) so one stack cannot starve the account's other APIs.
 */
export const API_THROTTLING_RATE_LIMIT = 1000;
export const API_THROTTLING_BURST_LIMIT = 2000;

export interface MeshHttpApiProps {
  topology: Topology;
  functions: Record<FunctionName, TemFunction>;
  /** The REST API's name, `<prefix>-api`. */
  apiName: string;
  stage: StageSettings;
}

/** API Gateway's CloudWatch Logs role of the account and region (`AWS::ApiGateway::Account`), if the stack sets it. */
function accountLoggingRole(stack: Stack): apigw.CfnAccount | undefined {
  return stack.node.findAll().find((c): c is apigw.CfnAccount => c instanceof apigw.CfnAccount);
}

/**
 * The HTTP API from the topology's routes: a REST API (stage `v1`, throttled, access and execution logs, X-Ray), the
 * REQUEST authorizer on every route but the public ones and the project's gateway responses. Its usage plans are the
 * mesh's (`buildUsagePlans`).
 */
export class MeshHttpApi extends Construct {
  readonly api: apigw.RestApi;
  readonly authorizer: apigw.RequestAuthorizer;
  /** Every API method, keyed `METHOD /path` as in the topology's routes. */
  readonly methods: Record<string, apigw.Method> = {};
  /**
   * What sets API Gateway's CloudWatch Logs role for the account (needed before a stage may log): this API's, or, in
   * a stack with two meshes, the first one's.
   */
  readonly accountLogging: IConstruct;

  constructor(scope: Construct, id: string, props: MeshHttpApiProps) {
    super(scope, id);
    const { topology: t, functions } = props;
    // One account setting per account and region: a second one in the same stack would only overwrite the first.
    const existingAccount = accountLoggingRole(Stack.of(this));
    const accessLogs = new logs.LogGroup(this, 'ApiAccessLogs', {
      retention: props.stage.logRetention,
      removalPolicy: props.stage.removalPolicy,
    });
    this.api = new apigw.RestApi(this, 'Api', {
      restApiName: props.apiName,
      description: 'TelemetryEventMesh HTTP ingestion and query API',
      // Execution logging (cdk-nag APIG6) needs the account-level API Gateway CloudWatch role; without it the stage
      // deployment fails in an account that never set one. CDK retains the role when the stack is deleted.
      cloudWatchRole: existingAccount === undefined,
      // Usage plans meter the key the authorizer returns as usageIdentifierKey, never a caller's header (ADR 0013).
      apiKeySourceType: apigw.ApiKeySourceType.AUTHORIZER,
      deployOptions: {
        stageName: 'v1',
        accessLogDestination: new apigw.LogGroupLogDestination(accessLogs),
        accessLogFormat: apigw.AccessLogFormat.jsonWithStandardFields(),
        loggingLevel: apigw.MethodLoggingLevel.INFO,
        // Request/response bodies would put event payloads and API keys into the logs.
        dataTraceEnabled: false,
        metricsEnabled: true,
        tracingEnabled: true,
        throttlingRateLimit: API_THROTTLING_RATE_LIMIT,
        throttlingBurstLimit: API_THROTTLING_BURST_LIMIT,
      },
    });
    const account = existingAccount ?? this.api.node.tryFindChild('Account');
    if (!account) throw new Error("the REST API's account CloudWatch role was not created");
    this.accountLogging = account;
    if (existingAccount) this.api.deploymentStage.node.addDependency(existingAccount);

    // API Gateway calls the authorizer only when *every* identity source is present, and caches only when some are
    // declared. Callers send an API key or a bearer token, so the topology declares none and turns API Gateway's
    // cache off (CDK accepts no identity source only with a TTL of 0); the function caches decisions itself.
    this.authorizer = new apigw.RequestAuthorizer(this, 'HttpAuthorizer', {
      handler: functions[t.authorizer.function],
      identitySources: t.authorizer.identitySources.map((h) => apigw.IdentitySource.header(h)),
      resultsCacheTtl: Duration.seconds(t.authorizer.resultTtlSeconds),
    });
    if (t.authorizer.identitySources.length === 0) {
      // CDK would render IdentitySource: ''; leave the optional property out instead.
      (this.authorizer.node.defaultChild as apigw.CfnAuthorizer).identitySource = undefined;
    }
    this.addRoutes(t, functions);
    this.addGatewayResponses();
  }

  private addRoutes(t: Topology, functions: Record<FunctionName, TemFunction>): void {
    // Only path parameters are declared: a missing API key must reach the authorizer (401), not the validator (400).
    const validator = this.api.addRequestValidator('ParameterValidator', {
      requestValidatorName: 'parameters',
      validateRequestParameters: true,
      validateRequestBody: false,
    });
    for (const route of t.routes) {
      const resource = this.api.root.resourceForPath(route.path);
      const pathParams = [...route.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      const integration = new apigw.LambdaIntegration(functions[route.function], { proxy: true });
      this.methods[`${route.method} ${route.path}`] = resource.addMethod(route.method, integration, {
        // `auth: 'none'` marks the few public routes (the JWKS); every other route goes through the authorizer.
        // Authorized routes need a usage key (from the authorizer): each request counts against its usage plan.
        ...(route.auth === 'none'
          ? { authorizationType: apigw.AuthorizationType.NONE }
          : {
              authorizer: this.authorizer,
              authorizationType: apigw.AuthorizationType.CUSTOM,
              apiKeyRequired: true,
            }),
        requestValidator: validator,
        requestParameters: Object.fromEntries(pathParams.map((p) => [`method.request.path.${p}`, true])),
      });
    }
  }

  private addGatewayResponses(): void {
    const api = this.api;
    const json = (message: string) => ({ 'application/json': JSON.stringify({ message }) });
    api.addGatewayResponse('Unauthorized', {
      type: apigw.ResponseType.UNAUTHORIZED,
      statusCode: '401',
      templates: json('Unauthorized'),
    });
    api.addGatewayResponse('AccessDenied', {
      type: apigw.ResponseType.ACCESS_DENIED,
      statusCode: '403',
      templates: json('Forbidden'),
    });
    // API Gateway answers an unknown route with 403 "Missing Authentication Token"; the contract says 404.
    api.addGatewayResponse('NotFound', {
      type: apigw.ResponseType.MISSING_AUTHENTICATION_TOKEN,
      statusCode: '404',
      templates: json('Not Found'),
    });
    api.addGatewayResponse('Default5xx', {
      type: apigw.ResponseType.DEFAULT_5XX,
      templates: json('Internal server error'),
    });
    // An authorizer that cannot decide (principals table down, timeout) is a 503 to retry, not a 500: the answer of
    // AUTHORIZER_UNAVAILABLE in shared/domain/decision-cache.ts, which the local gateway gives too.
    for (const type of [apigw.ResponseType.AUTHORIZER_CONFIGURATION_ERROR, apigw.ResponseType.AUTHORIZER_FAILURE])
      api.addGatewayResponse(`AuthorizerUnavailable${type.responseType}`, {
        type,
        statusCode: '503',
        responseHeaders: { 'Retry-After': "'5'" },
        templates: json('Service Unavailable'),
      });
  }
}

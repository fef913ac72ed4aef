import { type RemovalPolicy, Stack } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { WebSocketLambdaAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { WebSocketLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct, type IDependable } from 'constructs';
import type { FunctionName, WebSocketRouteKey, WebSocketSpec } from '../topology';

/**
 * Stage throttling of what clients send (connects and messages on every route), a ceiling before the authorizer and
 * the route function are invoked at all. Clients send control messages only (subscribe, unsubscribe, ping), so this
 * is far below the HTTP API's ceiling; the rate matches the account's quota of 500 new WebSocket connections per
 * second, the burst lets a fleet of dashboards reconnect at once after a deployment. Deliveries to clients go through
 * the management API and are not counted here.
 */
export const WS_THROTTLING_RATE_LIMIT = 500;
export const WS_THROTTLING_BURST_LIMIT = 1000;

/**
 * Where each client message is routed: `$request.body.action`, API Gateway's usual expression. Only the
 * `$connect`/`$disconnect`/`$default` routes exist, so every message reaches `$default` (the function reads `action`
 * itself); a dedicated route per action can be added later without changing what clients send.
 */
export const WS_ROUTE_SELECTION_EXPRESSION = '$request.body.action';

/** The routes API Gateway has for every WebSocket API, in the order a connection meets them. */
export const WS_ROUTE_KEYS: readonly WebSocketRouteKey[] = ['$connect', '$default', '$disconnect'];

/**
 * One JSON line per connect, message and disconnect (cdk-nag APIG1; JSON like the HTTP API's, so one query language
 * serves both). The authorizer's and the integration's status and error say why a `$connect` was refused or a message
 * failed without execution logs at INFO. No message bodies, no credentials: the query string is not logged.
 */
const ACCESS_LOG_FORMAT = AccessLogFormat.custom(
  JSON.stringify({
    requestId: '$context.requestId',
    extendedRequestId: '$context.extendedRequestId',
    ip: '$context.identity.sourceIp',
    requestTime: '$context.requestTime',
    eventType: '$context.eventType',
    routeKey: '$context.routeKey',
    connectionId: '$context.connectionId',
    status: '$context.status',
    principalId: '$context.authorizer.principalId',
    authorizeStatus: '$context.authorize.status',
    authorizeError: '$context.authorize.error',
    integrationStatus: '$context.integration.status',
    integrationError: '$context.integration.error',
    error: '$context.error.message',
  }),
);

export interface TemWebSocketApiProps {
  spec: WebSocketSpec;
  /** The API's name, `<prefix>-ws`. */
  apiName: string;
  /** Its access log group's (the mesh's stage decides them). */
  logRetention: logs.RetentionDays;
  logRemovalPolicy: RemovalPolicy;
}

/**
 * The real-time boundary (ADR 0014) from `topology.webSocket`: the API and its stage at construction, so functions can
 * be given the stage's management URL and the grant on its connections; the authorizer and the routes by `addRoutes`,
 * once the functions exist. Each step references only what was built before it, so the template has no cycle
 * (functions -> API; routes, integrations, authorizer, permissions -> functions and API). No business logic: which
 * function serves which route, and the stage name, come from the topology.
 */
export class TemWebSocketApi extends Construct {
  readonly spec: WebSocketSpec;
  readonly api: apigwv2.WebSocketApi;
  readonly stage: apigwv2.WebSocketStage;
  readonly accessLogs: logs.LogGroup;
  /**
   * `arn:<partition>:execute-api:<region>:<account>:<api id>/<stage>/*\/@connections/*`: every connection of this
   * stage, through any method of the management API (POST = PostToConnection, GET = GetConnection, DELETE =
   * DeleteConnection); what `write` on the management endpoint grants, and nothing of another API or stage.
   */
  readonly connectionsArn: string;
  /** The routes by key, once `addRoutes` ran. */
  readonly routes: Partial<Record<WebSocketRouteKey, apigwv2.WebSocketRoute>> = {};
  private authorizerResource?: apigwv2.WebSocketAuthorizer;

  constructor(scope: Construct, id: string, props: TemWebSocketApiProps) {
    super(scope, id);
    const { spec } = props;
    this.spec = spec;

    this.api = new apigwv2.WebSocketApi(this, 'Api', {
      apiName: props.apiName,
      description: 'TelemetryEventMesh real-time API: live events and alerts over WebSocket',
      routeSelectionExpression: WS_ROUTE_SELECTION_EXPRESSION,
    });

    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.logRetention,
      removalPolicy: props.logRemovalPolicy,
    });
    this.stage = new apigwv2.WebSocketStage(this, 'Stage', {
      webSocketApi: this.api,
      stageName: spec.stage,
      // Routes are added after the stage (they need the functions, which need the stage's URL): auto-deploy deploys
      // them, and every later change, without a deployment resource to keep in step.
      autoDeploy: true,
      throttle: { rateLimit: WS_THROTTLING_RATE_LIMIT, burstLimit: WS_THROTTLING_BURST_LIMIT },
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(this.accessLogs),
        format: ACCESS_LOG_FORMAT,
      },
    });
    // Execution logs at ERROR (authorizer and integration failures, API Gateway's own errors), never message bodies:
    // INFO would log every client message. The L2 has no setting for them.
    const cfnStage = this.stage.node.defaultChild as apigwv2.CfnStage;
    cfnStage.addPropertyOverride('DefaultRouteSettings.LoggingLevel', 'ERROR');
    cfnStage.addPropertyOverride('DefaultRouteSettings.DataTraceEnabled', false);

    this.connectionsArn = `${Stack.of(this).formatArn({ service: 'execute-api', resource: this.api.apiId })}/${
      this.stage.stageName
    }/*/@connections/*`;
  }

  /** `wss://<api id>.execute-api.<region>.<url suffix>/<stage>`: what clients connect to. */
  get url(): string {
    return this.stage.url;
  }

  /** `https://<api id>.execute-api.<region>.<url suffix>/<stage>`: the management API the functions post to. */
  get callbackUrl(): string {
    return this.stage.callbackUrl;
  }

  /** The authorizer of `$connect`, once `addRoutes` ran. */
  get authorizer(): apigwv2.WebSocketAuthorizer | undefined {
    return this.authorizerResource;
  }

  /**
   * `execute-api:ManageConnections` on this stage's connections only (as `WebSocketStage.grantManagementApiAccess`,
   * with the ARN kept here so cdk-nag's acknowledgement names the same one).
   */
  grantManageConnections(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['execute-api:ManageConnections'],
      resourceArns: [this.connectionsArn],
    });
  }

  /**
   * API Gateway needs the account's CloudWatch Logs role (`AWS::ApiGateway::Account`) before it accepts a stage that
   * logs; the stage is created after whatever sets it.
   */
  loggingNeeds(accountSettings: IDependable): void {
    this.stage.node.addDependency(accountSettings);
  }

  /**
   * `$connect` through the REQUEST authorizer, each route a Lambda proxy integration of its topology function (one
   * integration per function), and `$default` answering the client with what its function returns.
   */
  addRoutes(functions: Readonly<Record<FunctionName, lambda.IFunction>>): void {
    if (Object.keys(this.routes).length > 0) throw new Error('the WebSocket routes are already added');
    // No identity source: a credential comes from a header, a query parameter or Sec-WebSocket-Protocol, and API
    // Gateway answers 401 without calling the authorizer unless *every* declared source is present. CDK's default is
    // `route.request.header.Authorization`, which would refuse every browser; with no source API Gateway caches no
    // decision either, and the function caches per credential itself (as the HTTP authorizer, ADR 0003).
    const authorizer = new WebSocketLambdaAuthorizer('Authorizer', functions[this.spec.authorizer], {
      authorizerName: this.spec.authorizer,
      identitySource: [],
    });
    const integrations = new Map<FunctionName, WebSocketLambdaIntegration>();
    for (const key of WS_ROUTE_KEYS) {
      const fnName = this.spec.routes[key];
      let integration = integrations.get(fnName);
      if (!integration) {
        integration = new WebSocketLambdaIntegration(`${fnName}Integration`, functions[fnName]);
        integrations.set(fnName, integration);
      }
      // An authorizer can only be set on $connect: the other routes belong to a connection it already accepted.
      this.routes[key] = this.api.addRoute(key, {
        integration,
        ...(key === '$connect' ? { authorizer } : {}),
        // The route response: $default's reply (subscribed, pong, refusals) is sent back to the client.
        ...(key === '$default' ? { returnResponse: true } : {}),
      });
    }
    // The L2 binds the authorizer under the API on the first route using it, under the id given above.
    const bound = this.api.node.tryFindChild('Authorizer');
    if (!(bound instanceof apigwv2.WebSocketAuthorizer)) throw new Error('the $connect authorizer was not created');
    this.authorizerResource = bound;
    // CDK would render `IdentitySource: []`; leave the optional property out, as the HTTP authorizer does.
    const cfnAuthorizer = bound.node.defaultChild as apigwv2.CfnAuthorizer;
    cfnAuthorizer.identitySource = undefined;
  }
}

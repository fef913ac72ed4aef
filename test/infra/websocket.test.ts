import { App, CfnElement, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { IConstruct } from 'constructs';
import { describe, expect, it } from 'vitest';
import { TelemetryEventMeshStack } from '../../infra/aws/stack';
import { consumerKey } from '../../infra/aws/stream-consumers';
import { WS_THROTTLING_BURST_LIMIT, WS_THROTTLING_RATE_LIMIT } from '../../infra/aws/websocket-api';
import {
  type EndpointName,
  endpoints,
  type FunctionName,
  functions,
  streamConsumers,
  tables,
  topology,
  type WebSocketRouteKey,
} from '../../infra/topology';
import { stubRepoRoot } from './stub-root';

// Built as in stack.test.ts: bundling skipped, against a stand-in repository root with an empty file per entry.
// Expectations come from `topology.webSocket`; the few written out (wsFanout, alerts and wsSweep manage connections, wsConnections
// does not) pin what the topology says today, so a change there is a decision this test makes visible.
const stubRoot = stubRepoRoot('ws-test');
const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
const stack = new TelemetryEventMeshStack(app, 'TelemetryEventMesh', { repoRoot: stubRoot });
const template = Template.fromStack(stack);

type Resource = { Type: string; Properties: Record<string, unknown>; DependsOn?: string[] };
type Resources = Record<string, Resource>;
const resourcesOf = (type: string): Resources => template.findResources(type) as Resources;
const logicalId = (c: IConstruct | undefined): string => {
  const el = c && (CfnElement.isCfnElement(c) ? c : c.node.defaultChild);
  if (!el || !CfnElement.isCfnElement(el)) throw new Error(`no CloudFormation element for ${c?.node.path}`);
  return stack.getLogicalId(el);
};
const fnId = (name: FunctionName): string => logicalId(stack.functions[name]);
const arnOf = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });
const json = (v: unknown): string => JSON.stringify(v);

const ws = topology.webSocket;
const apiId = logicalId(stack.mesh.webSocket.api);
const routeKeys = Object.keys(ws.routes) as WebSocketRouteKey[];
/** `arn:<partition>:execute-api:<region>:<account>:<api id><rest>`, as the stack renders it (no concrete environment). */
const executeApiArn = (...rest: unknown[]) => ({
  'Fn::Join': [
    '',
    [
      'arn:',
      { Ref: 'AWS::Partition' },
      ':execute-api:',
      { Ref: 'AWS::Region' },
      ':',
      { Ref: 'AWS::AccountId' },
      ':',
      { Ref: apiId },
      ...rest,
    ],
  ],
});
/** `<scheme>://<api id>.execute-api.<region>.<url suffix>/<stage>`. */
const stageUrl = (scheme: 'wss' | 'https') => ({
  'Fn::Join': [
    '',
    [
      `${scheme}://`,
      { Ref: apiId },
      '.execute-api.',
      { Ref: 'AWS::Region' },
      '.',
      { Ref: 'AWS::URLSuffix' },
      `/${ws.stage}`,
    ],
  ],
});
/** API Gateway's URI for invoking a function (authorizer or integration). */
const invocationUri = (fn: FunctionName) => ({
  'Fn::Join': [
    '',
    [
      'arn:',
      { Ref: 'AWS::Partition' },
      ':apigateway:',
      { Ref: 'AWS::Region' },
      ':lambda:path/2015-03-31/functions/',
      arnOf(fnId(fn)),
      '/invocations',
    ],
  ],
});
const routesInTemplate = (): Record<string, Record<string, unknown> & { id: string }> =>
  Object.fromEntries(
    Object.entries(resourcesOf('AWS::ApiGatewayV2::Route')).map(([id, r]) => [
      String(r.Properties.RouteKey),
      { ...r.Properties, id },
    ]),
  );
const authorizerId = (): string => {
  const [id, ...others] = Object.keys(resourcesOf('AWS::ApiGatewayV2::Authorizer'));
  if (!id || others.length > 0) throw new Error('expected exactly one WebSocket authorizer');
  return id;
};

interface Statement {
  Action: string | string[];
  Effect: string;
  Resource: unknown;
}
/** Every role with a statement allowing the action, and those statements. */
const rolesAllowing = (action: string): { roles: string[]; statements: Statement[] } => {
  const hits = Object.values(resourcesOf('AWS::IAM::Policy')).flatMap((p) =>
    (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement.filter((s) =>
      [s.Action].flat().some((a) => a === action || a === 'execute-api:*' || a === '*'),
    ).map((s) => ({ s, roles: (p.Properties.Roles as { Ref: string }[]).map((r) => r.Ref) })),
  );
  return { roles: [...new Set(hits.flatMap((h) => h.roles))].sort(), statements: hits.map((h) => h.s) };
};
/** A function's template properties (it must be in the template). */
const fnProps = (fn: FunctionName): Record<string, unknown> => {
  const props = resourcesOf('AWS::Lambda::Function')[fnId(fn)]?.Properties;
  if (!props) throw new Error(`function ${fn} is not in the template`);
  return props;
};
const roleIdOf = (fn: FunctionName): string =>
  (fnProps(fn).Role as { 'Fn::GetAtt': [string, string] })['Fn::GetAtt'][0];
const envOf = (fn: FunctionName): Record<string, unknown> =>
  (fnProps(fn).Environment as { Variables: Record<string, unknown> }).Variables;
/** The functions whose topology bindings give them `write` on the WebSocket management endpoint. */
const managers = (Object.keys(functions) as FunctionName[]).filter((fn) =>
  topology.functions[fn].bindings.some(
    (b) => b.resource === ws.managementEndpoint && (b.access === 'write' || b.access === 'readWrite'),
  ),
);

describe('WebSocket API (topology.webSocket)', () => {
  it('one WEBSOCKET API, routing on $request.body.action', () => {
    template.resourceCountIs('AWS::ApiGatewayV2::Api', 1);
    expect(resourcesOf('AWS::ApiGatewayV2::Api')[apiId]?.Properties).toMatchObject({
      Name: `${topology.service}-ws`,
      ProtocolType: 'WEBSOCKET',
      RouteSelectionExpression: '$request.body.action',
    });
  });

  it(`$connect's REQUEST authorizer is ${ws.authorizer}, with no identity source (none required, nothing cached)`, () => {
    template.resourceCountIs('AWS::ApiGatewayV2::Authorizer', 1);
    const auth = resourcesOf('AWS::ApiGatewayV2::Authorizer')[authorizerId()]?.Properties;
    expect(auth).toEqual({
      ApiId: { Ref: apiId },
      AuthorizerType: 'REQUEST',
      AuthorizerUri: invocationUri(ws.authorizer),
      Name: ws.authorizer,
    });
    // A declared source must be present or API Gateway answers 401 without calling the function: a browser sends its
    // credential in a query parameter or Sec-WebSocket-Protocol, a service in a header. So none, and no cache TTL.
    expect(auth).not.toHaveProperty('IdentitySource');
    expect(auth).not.toHaveProperty('AuthorizerResultTtlInSeconds');
    expect(stack.mesh.webSocket.authorizer && logicalId(stack.mesh.webSocket.authorizer)).toBe(authorizerId());
  });

  it('exactly the $connect, $disconnect and $default routes', () => {
    expect(Object.keys(routesInTemplate()).sort()).toEqual(['$connect', '$default', '$disconnect']);
    expect([...routeKeys].sort()).toEqual(['$connect', '$default', '$disconnect']);
  });

  it('$connect: CUSTOM authorization by that authorizer; the other routes cannot have one', () => {
    const routes = routesInTemplate();
    expect(routes.$connect).toMatchObject({ AuthorizationType: 'CUSTOM', AuthorizerId: { Ref: authorizerId() } });
    for (const key of ['$disconnect', '$default'] as const) {
      expect(routes[key]?.AuthorizationType, key).toBe('NONE');
      expect(routes[key]?.AuthorizerId, key).toBeUndefined();
    }
  });

  it.each(routeKeys)('%s: a Lambda proxy integration of its topology function', (key) => {
    const route = routesInTemplate()[key];
    const target = route?.Target as { 'Fn::Join': [string, [string, { Ref: string }]] };
    expect(target['Fn::Join'][1][0]).toBe('integrations/');
    const integration = resourcesOf('AWS::ApiGatewayV2::Integration')[target['Fn::Join'][1][1].Ref];
    expect(integration?.Properties).toEqual({
      ApiId: { Ref: apiId },
      IntegrationType: 'AWS_PROXY',
      IntegrationUri: invocationUri(ws.routes[key]),
    });
  });

  it('one integration per function: every route goes to wsConnections', () => {
    expect(new Set(Object.values(ws.routes))).toEqual(new Set(['wsConnections']));
    const uris = Object.values(resourcesOf('AWS::ApiGatewayV2::Integration')).map((i) => i.Properties.IntegrationUri);
    expect(uris).toEqual([invocationUri('wsConnections')]);
  });

  it("$default returns its function's answer to the client (a route response); $connect/$disconnect do not", () => {
    const routes = routesInTemplate();
    expect(routes.$default?.RouteResponseSelectionExpression).toBe('$default');
    expect(Object.values(resourcesOf('AWS::ApiGatewayV2::RouteResponse')).map((r) => r.Properties)).toEqual([
      { ApiId: { Ref: apiId }, RouteId: { Ref: routes.$default?.id }, RouteResponseKey: '$default' },
    ]);
    expect(routes.$connect?.RouteResponseSelectionExpression).toBeUndefined();
    expect(routes.$disconnect?.RouteResponseSelectionExpression).toBeUndefined();
  });

  it(`stage ${ws.stage}: auto-deployed, throttled, JSON access logs kept 30 days, execution logs at ERROR`, () => {
    template.resourceCountIs('AWS::ApiGatewayV2::Stage', 1);
    const [stage] = Object.values(resourcesOf('AWS::ApiGatewayV2::Stage'));
    expect(stage?.Properties).toMatchObject({
      ApiId: { Ref: apiId },
      StageName: ws.stage,
      AutoDeploy: true,
      DefaultRouteSettings: {
        ThrottlingRateLimit: WS_THROTTLING_RATE_LIMIT,
        ThrottlingBurstLimit: WS_THROTTLING_BURST_LIMIT,
        LoggingLevel: 'ERROR',
        DataTraceEnabled: false,
      },
    });
    expect(WS_THROTTLING_BURST_LIMIT).toBeGreaterThanOrEqual(WS_THROTTLING_RATE_LIMIT);
    const logs = stage?.Properties.AccessLogSettings as { DestinationArn: { 'Fn::GetAtt': [string, string] } } & {
      Format: string;
    };
    expect(logs.DestinationArn).toEqual(arnOf(logicalId(stack.mesh.webSocket.accessLogs)));
    expect(resourcesOf('AWS::Logs::LogGroup')[logs.DestinationArn['Fn::GetAtt'][0]]?.Properties.RetentionInDays).toBe(
      30,
    );
    const format = JSON.parse(logs.Format) as Record<string, string>;
    expect(format).toMatchObject({
      requestId: '$context.requestId',
      connectionId: '$context.connectionId',
      routeKey: '$context.routeKey',
      status: '$context.status',
      authorizeError: '$context.authorize.error',
    });
    // Never a message body or the query string (where a browser's credential travels).
    expect(logs.Format).not.toMatch(/body|querystring|request\.header/i);
  });

  it("the stage is created after the account's CloudWatch Logs role (API Gateway refuses a logging stage before)", () => {
    const [stage] = Object.values(resourcesOf('AWS::ApiGatewayV2::Stage'));
    const [account, ...others] = Object.keys(resourcesOf('AWS::ApiGateway::Account'));
    expect(others).toEqual([]);
    expect(stage?.DependsOn).toEqual([account]);
  });

  it('the connections table: its key, the byPrincipal index and the expiresAt TTL', () => {
    const spec = tables[ws.connectionsTable];
    expect(spec).toMatchObject({
      partitionKey: 'pk',
      ttlAttribute: 'expiresAt',
      globalIndexes: [{ name: 'byPrincipal', partitionKey: 'principalId', sortKey: 'connectedAt' }],
    });
    const table = resourcesOf('AWS::DynamoDB::Table')[logicalId(stack.mesh.tables[ws.connectionsTable])]?.Properties;
    expect(table).toMatchObject({
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
      GlobalSecondaryIndexes: [
        {
          IndexName: 'byPrincipal',
          KeySchema: [
            { AttributeName: 'principalId', KeyType: 'HASH' },
            { AttributeName: 'connectedAt', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'ALL' },
        },
      ],
    });
  });

  it('wsFanout reads the event stream through its own enhanced fan-out consumer; a minute-old event is dropped', () => {
    const spec = streamConsumers.find((c) => c.function === 'wsFanout');
    if (!spec) throw new Error('the topology has no wsFanout consumer');
    expect(spec).toMatchObject({ readMode: 'enhancedFanOut', latency: 'realtime', maxRecordAgeSeconds: 60 });
    const consumer = stack.mesh.streamConsumers[consumerKey(spec)];
    if (!consumer) throw new Error('wsFanout has no registered stream consumer');
    const consumerId = logicalId(consumer);
    expect(resourcesOf('AWS::Kinesis::StreamConsumer')[consumerId]?.Properties).toEqual({
      ConsumerName: `${stack.stackName}-wsFanout`,
      StreamARN: arnOf(logicalId(stack.mesh.streams[spec.stream])),
    });
    const mappings = Object.values(resourcesOf('AWS::Lambda::EventSourceMapping')).filter(
      (m) => json(m.Properties.FunctionName) === json({ Ref: fnId('wsFanout') }),
    );
    expect(mappings).toHaveLength(1);
    expect(mappings[0]?.Properties).toMatchObject({
      EventSourceArn: { 'Fn::GetAtt': [consumerId, 'ConsumerARN'] },
      MaximumRecordAgeInSeconds: 60,
      MaximumBatchingWindowInSeconds: 0,
      BatchSize: 500,
      StartingPosition: 'TRIM_HORIZON',
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });
});

describe('WebSocket management API (the ws-management endpoint)', () => {
  it(`the topology: ${ws.managementEndpoint} is the ws-management endpoint; wsFanout, alerts and wsSweep write to it`, () => {
    expect(endpoints[ws.managementEndpoint as EndpointName]).toEqual({ service: 'ws-management' });
    expect([...managers].sort()).toEqual(['alerts', 'wsFanout', 'wsSweep']);
  });

  it.each(['wsFanout', 'alerts', 'wsSweep'] as const)('%s: WS_MANAGEMENT_ENDPOINT is the stage callback URL', (fn) => {
    expect(envOf(fn).WS_MANAGEMENT_ENDPOINT).toEqual(stageUrl('https'));
  });

  it('wsConnections is not told the management endpoint (it answers through its return value)', () => {
    expect(envOf('wsConnections')).not.toHaveProperty('WS_MANAGEMENT_ENDPOINT');
  });

  it("execute-api:ManageConnections on this stage's connections, for exactly the roles of wsFanout, alerts and wsSweep", () => {
    const { roles, statements } = rolesAllowing('execute-api:ManageConnections');
    expect(roles).toEqual(['alerts', 'wsFanout', 'wsSweep'].map((fn) => roleIdOf(fn as FunctionName)).sort());
    expect(roles).toEqual(managers.map(roleIdOf).sort());
    expect(roles).not.toContain(roleIdOf('wsConnections'));
    expect(roles).not.toContain(roleIdOf('wsAuthorizer'));
    // One statement per role, that one action, on this API's stage only (not `<api>/*` nor another stage).
    expect(statements).toEqual(
      roles.map(() => ({
        Action: 'execute-api:ManageConnections',
        Effect: 'Allow',
        Resource: executeApiArn(`/${ws.stage}/*/@connections/*`),
      })),
    );
  });

  it('no role may invoke the WebSocket API itself (execute-api:Invoke)', () => {
    expect(rolesAllowing('execute-api:Invoke').roles).toEqual([]);
  });
});

describe('Lambda permissions for the WebSocket API', () => {
  const apigatewayInvokes = () =>
    Object.values(resourcesOf('AWS::Lambda::Permission')).filter(
      (p) => p.Properties.Principal === 'apigateway.amazonaws.com' && json(p.Properties.SourceArn).includes(apiId),
    );

  it(`API Gateway may invoke ${ws.authorizer} as this API's authorizer only`, () => {
    const forAuthorizer = apigatewayInvokes().filter(
      (p) => json(p.Properties.FunctionName) === json(arnOf(fnId(ws.authorizer))),
    );
    expect(forAuthorizer.map((p) => p.Properties)).toEqual([
      {
        Action: 'lambda:InvokeFunction',
        FunctionName: arnOf(fnId(ws.authorizer)),
        Principal: 'apigateway.amazonaws.com',
        SourceArn: executeApiArn('/authorizers/', { Ref: authorizerId() }),
      },
    ]);
  });

  it('API Gateway may invoke wsConnections once per route, each permission scoped to its route key', () => {
    const forRoutes = apigatewayInvokes().filter(
      (p) => json(p.Properties.FunctionName) === json(arnOf(fnId('wsConnections'))),
    );
    expect(forRoutes.map((p) => p.Properties.SourceArn)).toEqual(
      expect.arrayContaining(routeKeys.map((key) => executeApiArn(`/*${key}`))),
    );
    expect(forRoutes).toHaveLength(routeKeys.length);
    for (const p of forRoutes) expect(p.Properties.Action).toBe('lambda:InvokeFunction');
  });

  it('no other function is invokable through the WebSocket API', () => {
    const invoked = new Set(apigatewayInvokes().map((p) => json(p.Properties.FunctionName)));
    expect(invoked).toEqual(new Set([ws.authorizer, ...Object.values(ws.routes)].map((fn) => json(arnOf(fnId(fn))))));
  });
});

describe('WebSocket outputs, ordering and cdk-nag', () => {
  it('WebSocketUrl is the wss:// stage URL; the management endpoint output its https:// callback URL', () => {
    const outputs = template.findOutputs('*');
    expect(outputs.WebSocketUrl?.Value).toEqual(stageUrl('wss'));
    expect(outputs[ws.managementEndpoint]).toMatchObject({
      Description: ws.managementEndpoint,
      Value: stageUrl('https'),
    });
  });

  it('the template has no dependency cycle (API before functions, routes after them)', () => {
    const resources = template.toJSON().Resources as Record<string, Resource>;
    const edges = new Map<string, Set<string>>();
    const collect = (v: unknown, into: Set<string>): void => {
      if (Array.isArray(v)) for (const x of v) collect(x, into);
      else if (v && typeof v === 'object') {
        const o = v as Record<string, unknown>;
        if (typeof o.Ref === 'string' && o.Ref in resources) into.add(o.Ref);
        const getAtt = o['Fn::GetAtt'] as unknown[] | undefined;
        if (Array.isArray(getAtt) && typeof getAtt[0] === 'string' && getAtt[0] in resources) into.add(getAtt[0]);
        for (const x of Object.values(o)) collect(x, into);
      }
    };
    for (const [id, r] of Object.entries(resources)) {
      const deps = new Set<string>(r.DependsOn ?? []);
      collect(r.Properties, deps);
      edges.set(id, deps);
    }
    const state = new Map<string, 'visiting' | 'done'>();
    const cycles: string[] = [];
    const visit = (id: string, trail: string[]): void => {
      if (state.get(id) === 'done') return;
      if (state.get(id) === 'visiting') {
        cycles.push([...trail.slice(trail.indexOf(id)), id].join(' -> '));
        return;
      }
      state.set(id, 'visiting');
      for (const dep of edges.get(id) ?? []) visit(dep, [...trail, id]);
      state.set(id, 'done');
    };
    for (const id of edges.keys()) visit(id, []);
    expect(cycles).toEqual([]);
    // The direction: a function that is told the URL depends on the API, and the routes on the functions.
    expect(edges.get(fnId('wsFanout'))).toContain(apiId);
    expect(edges.get(apiId)).toEqual(new Set());
  });

  it('cdk-nag APIG4 acknowledged on $disconnect and $default only, never on $connect or the API', () => {
    const apig4 = (c: IConstruct) =>
      c.node.metadata
        .filter((m) => m.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY)
        .flatMap((m) => Object.keys(m.data as Record<string, string>))
        .filter((id) => id.endsWith('AwsSolutions-APIG4'));
    for (const key of routeKeys) {
      const route = stack.mesh.webSocket.routes[key];
      if (!route) throw new Error(`no ${key} route`);
      expect(apig4(route), key).toHaveLength(key === '$connect' ? 0 : 1);
    }
    for (const c of [stack.mesh.webSocket, stack.mesh.webSocket.api, stack.mesh.webSocket.stage])
      expect(apig4(c)).toEqual([]);
  });
});

describe('schedules', () => {
  it('an EventBridge rule per topology schedule, rate(N minutes), targets its function', () => {
    const rules = Object.values(resourcesOf('AWS::Events::Rule'));
    expect(rules).toHaveLength(topology.schedules.length);
    for (const schedule of topology.schedules) {
      const fnLogicalId = logicalId(stack.functions[schedule.function]);
      const rule = rules.find((r) => JSON.stringify(r.Properties.Targets).includes(fnLogicalId));
      expect(rule, schedule.function).toBeDefined();
      expect(rule?.Properties.ScheduleExpression).toBe(
        `rate(${schedule.rateMinutes} minute${schedule.rateMinutes === 1 ? '' : 's'})`,
      );
      expect(rule?.Properties.State).toBe('ENABLED');
    }
    // EventBridge may invoke the swept function, and only it.
    const permissions = Object.values(resourcesOf('AWS::Lambda::Permission')).filter(
      (p) => p.Properties.Principal === 'events.amazonaws.com',
    );
    expect(permissions.map((p) => JSON.stringify(p.Properties.FunctionName))).toEqual(
      topology.schedules.map((s) => JSON.stringify({ 'Fn::GetAtt': [logicalId(stack.functions[s.function]), 'Arn'] })),
    );
  });
});

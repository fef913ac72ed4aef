import { describe, expect, it } from 'vitest';
import {
  type FunctionName,
  mqttTopicMatches,
  type RouteSpec,
  routes,
  type Topology,
  topicRuleSql,
  topicRules,
  topology,
  validateTopology,
} from '../../infra/topology';

const snapshot = JSON.stringify(topology);
const withRoutes = (extra: RouteSpec[]): Topology => ({ ...topology, routes: [...topology.routes, ...extra] });

describe('validateTopology', () => {
  it('finds no problem in the shipped topology', () => {
    expect(validateTopology()).toEqual([]);
    expect(validateTopology(topology)).toEqual([]);
  });

  it('reports a duplicate route', () => {
    const first = topology.routes[0];
    if (!first) throw new Error('no route');
    expect(validateTopology(withRoutes([{ ...first }]))).toEqual([
      `route ${first.method} ${first.path} is declared twice`,
    ]);
  });

  it('the same path with another method is not a duplicate', () => {
    expect(
      validateTopology(
        withRoutes([{ method: 'DELETE', path: '/events/{id}', permission: 'events.delete.x', function: 'getEvent' }]),
      ),
    ).toEqual([]);
  });

  it('reports a permission whose method segment differs from the route method', () => {
    const problems = validateTopology(
      withRoutes([{ method: 'PUT', path: '/things', permission: 'things.post.thing_put', function: 'healthz' }]),
    );
    expect(problems).toEqual(['route PUT /things: permission "things.post.thing_put" names another HTTP method']);
  });

  it.each([['Events.put.x'], ['things.put'], ['things.put.x.y'], ['things.*.x'], ['things.head.x'], ['']])(
    'reports the malformed permission %j',
    (permission) => {
      const problems = validateTopology(
        withRoutes([{ method: 'PUT', path: '/things', permission, function: 'healthz' }]),
      );
      expect(problems).toEqual([`route PUT /things: permission "${permission}" is not <app>.<method>.<view>`]);
    },
  );

  it('reports an unknown function', () => {
    const problems = validateTopology(
      withRoutes([
        { method: 'GET', path: '/things', permission: 'things.get.list', function: 'nope' as unknown as FunctionName },
      ]),
    );
    expect(problems).toEqual(['route GET /things: unknown function nope']);
  });

  it('reports a path without a leading slash', () => {
    const problems = validateTopology(
      withRoutes([{ method: 'GET', path: 'things', permission: 'things.get.list', function: 'healthz' }]),
    );
    expect(problems).toEqual(['route GET things: path must start with /']);
  });

  it.each([0, -1, 10_001])('reports the out-of-range batch size %i', (batchSize) => {
    const t = structuredClone(topology) as Topology;
    const consumers = t.streamConsumers.map((c) => ({ ...c, batchSize }));
    expect(validateTopology({ ...t, streamConsumers: consumers })).toEqual(
      topology.streamConsumers.map((c) => `consumer ${c.function}: batchSize 1..10000`),
    );
  });

  it.each([1, 10_000])('accepts the batch size %i', (batchSize) => {
    const consumers = topology.streamConsumers.map((c) => ({ ...c, batchSize }));
    expect(validateTopology({ ...topology, streamConsumers: consumers })).toEqual([]);
  });

  it('reports an on-failure queue whose visibility timeout is shorter than the consumer timeout', () => {
    const t = structuredClone(topology) as Topology;
    t.queues.eventsDlq.visibilityTimeoutSeconds = 1;
    expect(validateTopology(t)).toEqual(
      topology.streamConsumers
        .filter((c) => c.onFailure === 'eventsDlq')
        .map((c) => `consumer ${c.function}: on-failure queue visibility shorter than the function timeout`),
    );
  });

  it.each([5, 4, 0])('reports topic(%i) outside the filter levels', (segment) => {
    const rule = topicRules.deviceTelemetry;
    if (!rule) throw new Error('no rule');
    const t: Topology = {
      ...topology,
      topicRules: { deviceTelemetry: { ...rule, select: { ...rule.select, extra: { fn: 'topic', segment } } } },
    };
    expect(validateTopology(t)).toEqual([
      `topic rule deviceTelemetry: topic(${segment}) is outside devices/+/telemetry`,
    ]);
  });

  it('accepts topic(3), the last level of devices/+/telemetry', () => {
    const rule = topicRules.deviceTelemetry;
    if (!rule) throw new Error('no rule');
    const t: Topology = {
      ...topology,
      topicRules: { deviceTelemetry: { ...rule, select: { ...rule.select, extra: { fn: 'topic', segment: 3 } } } },
    };
    expect(validateTopology(t)).toEqual([]);
  });

  it('reports a bad rule name, an out-of-range function timeout and an unknown authorizer function', () => {
    const t = structuredClone(topology) as Topology;
    const rule = t.topicRules.deviceTelemetry;
    if (!rule) throw new Error('no rule');
    const broken: Topology = {
      ...t,
      topicRules: { 'device-telemetry': rule },
      functions: { ...t.functions, healthz: { ...t.functions.healthz, timeoutSeconds: 901 } },
      authorizer: { ...t.authorizer, function: 'ghost' as unknown as FunctionName },
    };
    expect(validateTopology(broken)).toEqual([
      'function healthz: timeout out of range',
      'topic rule device-telemetry: name must be alphanumeric/underscore',
      'authorizer: unknown function ghost',
    ]);
  });

  it('did not mutate the exported topology', () => {
    expect(JSON.stringify(topology)).toBe(snapshot);
    expect(routes).toHaveLength((JSON.parse(snapshot) as { routes: unknown[] }).routes.length);
  });
});

describe('topicRuleSql', () => {
  it('renders the shipped telemetry rule', () => {
    const rule = topicRules.deviceTelemetry;
    if (!rule) throw new Error('no rule');
    expect(topicRuleSql(rule)).toBe(
      "SELECT metrics, ts, seq, topic(2) AS deviceId, timestamp() AS receivedAt FROM 'devices/+/telemetry'",
    );
  });

  it('renders clientid() and a rule without extras', () => {
    expect(
      topicRuleSql({
        topicFilter: 'a/#',
        select: { cid: { fn: 'clientid' } },
        action: { kinesis: { stream: 'eventStream', partitionKey: { fn: 'clientid' } } },
        errorQueue: 'ruleErrors',
      }),
    ).toBe("SELECT *, clientid() AS cid FROM 'a/#'");
    expect(
      topicRuleSql({
        topicFilter: 'a',
        select: {},
        action: { kinesis: { stream: 'eventStream', partitionKey: { fn: 'clientid' } } },
        errorQueue: 'ruleErrors',
      }),
    ).toBe("SELECT * FROM 'a'");
  });
});

describe('topic rule fields', () => {
  it('refuses a field the rule also sets (a payload must not supply the device id) and a field that is not a name', () => {
    const rule = topicRules.deviceTelemetry;
    if (!rule) throw new Error('no rule');
    const t = (fields: string[]): Topology => ({ ...topology, topicRules: { deviceTelemetry: { ...rule, fields } } });
    expect(validateTopology(t(['metrics', 'deviceId']))).toEqual([
      'topic rule deviceTelemetry: field "deviceId" is also set by the rule',
    ]);
    expect(validateTopology(t(['metrics', 'a-b']))).toEqual(['topic rule deviceTelemetry: field "a-b" is not a name']);
  });

  it('refuses a Kinesis action on an unknown stream or keyed by a topic level the filter does not have', () => {
    const rule = topicRules.deviceTelemetry;
    if (!rule) throw new Error('no rule');
    const t = (action: unknown): Topology =>
      ({ ...topology, topicRules: { deviceTelemetry: { ...rule, action } } }) as unknown as Topology;
    expect(validateTopology(t({ kinesis: { stream: 'nope', partitionKey: { fn: 'topic', segment: 2 } } }))).toEqual([
      'topic rule deviceTelemetry: unknown stream nope',
    ]);
    expect(
      validateTopology(t({ kinesis: { stream: 'eventStream', partitionKey: { fn: 'topic', segment: 4 } } })),
    ).toEqual(['topic rule deviceTelemetry: topic(4) is outside devices/+/telemetry']);
  });

  it('refuses a device policy refresh IoT Core would not take (300..86400 s)', () => {
    const fn = topology.functions.deviceAuthorizer;
    const t = (value: string): Topology =>
      ({
        ...topology,
        functions: {
          ...topology.functions,
          deviceAuthorizer: { ...fn, environment: { DEVICE_POLICY_REFRESH_SECONDS: value } },
        },
      }) as unknown as Topology;
    expect(validateTopology(t('300'))).toEqual([]);
    expect(validateTopology(t('299'))).toEqual([
      'IoT authorizer: DEVICE_POLICY_REFRESH_SECONDS must be 300..86400 (IoT Core refuses others)',
    ]);
  });

  it('the telemetry rule puts each message on the event stream keyed by the device id from the topic, no function', () => {
    expect(topicRules.deviceTelemetry?.action).toEqual({
      kinesis: { stream: 'eventStream', partitionKey: { fn: 'topic', segment: 2 } },
    });
    expect(topicRules.deviceTelemetry?.select.deviceId).toEqual({ fn: 'topic', segment: 2 });
    expect(Object.keys(topology.functions)).not.toContain('telemetryIngest');
  });
});

// Checks that once lived in the CDK stack only: here, both targets refuse them (the local stack calls it too).
describe('validateTopology: failure routing and derived names', () => {
  const as = (t: unknown) => t as Topology;
  it('a failure destination must be an alarmed errorSink queue, or one a queue consumer retries', () => {
    const consumers = topology.streamConsumers.map((c, i) => (i === 0 ? { ...c, onFailure: 'alerts' as const } : c));
    expect(validateTopology(as({ ...topology, streamConsumers: consumers }))).toEqual([
      'failure destinations must be alarmed errorSink queues (or consumed by a queue consumer): alerts',
    ]);
    // ruleErrors is a delivery queue too, but its consumer (the redrive) retries what lands there.
    expect(Object.values(topology.topicRules).map((r) => r.errorQueue)).toEqual(['ruleErrors']);
    expect(validateTopology(as({ ...topology, queueConsumers: [] }))).toEqual([
      'failure destinations must be alarmed errorSink queues (or consumed by a queue consumer): ruleErrors',
    ]);
  });

  it("a topology name may not be a delivery queue's dead-letter queue name", () => {
    const tables = { ...topology.tables, alertsDeadLetter: topology.tables.eventsTable };
    expect(validateTopology(as({ ...topology, tables }))).toEqual([
      'dead-letter queue names already used by the topology: alertsDeadLetter',
    ]);
  });

  it("one ws-management endpoint: the WebSocket API's", () => {
    const endpoints = { ...topology.endpoints, otherWs: { service: 'ws-management' } };
    expect(validateTopology(as({ ...topology, endpoints }))).toEqual([
      "endpoint otherWs: the WebSocket API's management endpoint is wsManagementEndpoint",
    ]);
  });

  it('a function consumes a stream at most once', () => {
    const [first] = topology.streamConsumers;
    const streamConsumers = [...topology.streamConsumers, { ...first, readMode: 'polling', latency: 'batch' }];
    expect(validateTopology(as({ ...topology, streamConsumers }))).toEqual([
      'a function consumes a stream at most once: eventStream:storeEvents',
    ]);
  });

  it('one queue of alert messages, a delivery queue', () => {
    const q = topology.queues;
    expect(
      validateTopology(as({ ...topology, queues: { ...q, ruleErrors: { ...q.ruleErrors, alertMessages: true } } })),
    ).toEqual(['at most one queue holds the alert messages: ruleErrors, alerts']);
    expect(
      validateTopology(as({ ...topology, queues: { ...q, alerts: { ...q.alerts, alertMessages: undefined } } })),
    ).toEqual([]);
    expect(
      validateTopology(
        as({
          ...topology,
          queues: {
            ...q,
            alerts: { ...q.alerts, alertMessages: undefined },
            eventsDlq: { ...q.eventsDlq, alertMessages: true },
          },
        }),
      ),
    ).toEqual(['queue eventsDlq: the alert messages queue must be a delivery queue']);
  });

  it.each([['Tem Device'], [''], ['x'.repeat(129)]])('the IoT authorizer name %j is refused', (name) => {
    expect(validateTopology(as({ ...topology, iotAuthorizer: { ...topology.iotAuthorizer, name } }))).toEqual([
      `IoT authorizer: name "${name}" is not 1..128 of [A-Za-z0-9_=,@-]`,
    ]);
  });
});

describe('mqttTopicMatches', () => {
  it.each<[string, string, boolean]>([
    ['devices/+/telemetry', 'devices/abc/telemetry', true],
    ['devices/+/telemetry', 'devices/a/b/telemetry', false],
    ['devices/+/telemetry', 'devices/telemetry', false],
    ['devices/+/telemetry', 'devices/abc/telemetry/x', false],
    ['devices/+/telemetry', 'devices/abc/status', false],
    ['devices/+/telemetry', 'devices//telemetry', true], // `+` matches an empty level
    ['devices/+', 'devices', false],
    ['+/+', '/finance', true],
    ['+', '/finance', false],
    ['devices/#', 'devices/a', true],
    ['devices/#', 'devices/a/b/c', true],
    ['devices/#', 'devices', true], // MQTT 3.1.1 4.7.1.2: `sport/#` also matches `sport`
    ['sport/tennis/#', 'sport/tennis', true],
    ['devices/#', 'device', false],
    ['devices/#', 'other/a', false],
    ['#', 'a/b/c', true],
    ['+/+/#', 'a/b', true],
    ['a/b', 'a/b', true],
    ['a/b', 'A/b', false],
    ['a/b', 'a/b/', false],
  ])('filter %j, topic %j -> %s', (filter, topic, expected) => {
    expect(mqttTopicMatches(filter, topic)).toBe(expected);
  });

  // MQTT 3.1.1 4.7.2 [MQTT-4.7.2-1]: a filter starting with a wildcard must not match a topic starting with `$`.
  it.each<[string, string]>([
    ['#', '$SYS/broker/uptime'],
    ['+/monitor/Clients', '$SYS/monitor/Clients'],
    ['+/things/x/shadow/update', '$aws/things/x/shadow/update'],
  ])('filter %j does not match the $-topic %j', (filter, topic) => {
    expect(mqttTopicMatches(filter, topic)).toBe(false);
  });

  it('a non-wildcard first level may match a $-topic', () => {
    expect(mqttTopicMatches('$SYS/#', '$SYS/broker/uptime')).toBe(true);
  });
});

import type { Topology } from '../topology';
import { deadLetterName, MAX_ENHANCED_CONSUMERS_PER_STREAM, type QueueName } from './specs';

/**
 * Checks the description for mistakes a type cannot catch. Both targets call it before building anything, so a bad
 * topology fails `cdk synth` and `npm start` with the same message.
 */
export function validateTopology(t: Topology): string[] {
  const problems: string[] = [];
  const permissionPattern = /^[a-z0-9_]+\.(get|post|put|patch|delete)\.[a-z0-9_]+$/;
  const seen = new Set<string>();
  for (const r of t.routes) {
    const key = `${r.method} ${r.path}`;
    if (seen.has(key)) problems.push(`route ${key} is declared twice`);
    seen.add(key);
    if (!permissionPattern.test(r.permission))
      problems.push(`route ${key}: permission "${r.permission}" is not <app>.<method>.<view>`);
    else if (r.permission.split('.')[1] !== r.method.toLowerCase())
      problems.push(`route ${key}: permission "${r.permission}" names another HTTP method`);
    if (!Object.hasOwn(t.functions, r.function)) problems.push(`route ${key}: unknown function ${r.function}`);
    if (!r.path.startsWith('/')) problems.push(`route ${key}: path must start with /`);
  }
  for (const [name, fn] of Object.entries(t.functions)) {
    if (fn.timeoutSeconds < 1 || fn.timeoutSeconds > 900) problems.push(`function ${name}: timeout out of range`);
    if (fn.memoryMb < 128 || fn.memoryMb > 10240) problems.push(`function ${name}: memory out of range`);
    const envNames = fn.bindings.map((b) => b.env);
    if (new Set(envNames).size !== envNames.length) problems.push(`function ${name}: duplicate binding env var`);
  }
  for (const c of t.streamConsumers) {
    if (!Object.hasOwn(t.functions, c.function) || !Object.hasOwn(t.queues, c.onFailure)) {
      problems.push(`consumer ${c.function}: unknown function or on-failure queue ${c.onFailure}`);
      continue;
    }
    if (c.batchSize < 1 || c.batchSize > 10000) problems.push(`consumer ${c.function}: batchSize 1..10000`);
    if (c.maxBatchingWindowSeconds < 0 || c.maxBatchingWindowSeconds > 300)
      problems.push(`consumer ${c.function}: batching window 0..300 s`);
    if (!Number.isInteger(c.maxRetryAttempts) || c.maxRetryAttempts < -1 || c.maxRetryAttempts > 10000)
      problems.push(`consumer ${c.function}: retries -1 (until the record ages out) or 0..10000`);
    if (c.maxRecordAgeSeconds < 60 || c.maxRecordAgeSeconds > 604_800)
      problems.push(`consumer ${c.function}: maximum record age 60..604800 s`);
    if (c.latency === 'realtime' && (c.readMode !== 'enhancedFanOut' || c.maxBatchingWindowSeconds !== 0))
      problems.push(
        `consumer ${c.function}: a realtime consumer reads by enhanced fan-out with a batching window of 0`,
      );
    if (c.parallelizationFactor < 1 || c.parallelizationFactor > 10)
      problems.push(`consumer ${c.function}: parallelization 1..10`);
    // Its state cache is trusted per shard claim, which holds only while one batch of a shard runs at a time.
    if (c.function === 'alerts' && c.parallelizationFactor !== 1)
      problems.push('consumer alerts: parallelization 1 (its state cache is claimed per shard, ADR 0007)');
    const consumerTimeout = t.functions[c.function].timeoutSeconds;
    if (t.queues[c.onFailure].visibilityTimeoutSeconds < consumerTimeout)
      problems.push(`consumer ${c.function}: on-failure queue visibility shorter than the function timeout`);
  }
  for (const c of t.queueConsumers) {
    if (!Object.hasOwn(t.functions, c.function) || !Object.hasOwn(t.queues, c.queue)) {
      problems.push(`queue consumer ${c.function}: unknown function or queue ${c.queue}`);
      continue;
    }
    const queue = t.queues[c.queue];
    if (queue.kind !== 'delivery')
      problems.push(`queue consumer ${c.function}: ${c.queue} must be a delivery queue (one with a dead-letter queue)`);
    if (c.batchSize < 1 || c.batchSize > 10) problems.push(`queue consumer ${c.function}: batchSize 1..10`);
    if (c.maxConcurrency < 2 || c.maxConcurrency > 1000)
      problems.push(`queue consumer ${c.function}: maxConcurrency 2..1000`);
    // Lambda refuses a mapping whose queue would show a message again while the function may still hold it.
    if (queue.visibilityTimeoutSeconds < t.functions[c.function].timeoutSeconds)
      problems.push(`queue consumer ${c.function}: ${c.queue} visibility shorter than the function timeout`);
  }
  for (const [name, q] of Object.entries(t.queues))
    if (q.maxReceiveCount !== undefined && (q.kind !== 'delivery' || q.maxReceiveCount < 1 || q.maxReceiveCount > 1000))
      problems.push(`queue ${name}: maxReceiveCount 1..1000, on a delivery queue only`);
  for (const stream of Object.keys(t.streams)) {
    const enhanced = t.streamConsumers.filter((c) => c.stream === stream && c.readMode === 'enhancedFanOut');
    if (enhanced.length > MAX_ENHANCED_CONSUMERS_PER_STREAM)
      problems.push(`stream ${stream}: at most ${MAX_ENHANCED_CONSUMERS_PER_STREAM} enhanced fan-out consumers`);
  }
  for (const [name, rule] of Object.entries(t.topicRules)) {
    if (!/^[A-Za-z0-9_]+$/.test(name)) problems.push(`topic rule ${name}: name must be alphanumeric/underscore`);
    if (!Object.hasOwn(t.streams, rule.action.kinesis.stream))
      problems.push(`topic rule ${name}: unknown stream ${rule.action.kinesis.stream}`);
    if (!Object.hasOwn(t.queues, rule.errorQueue))
      problems.push(`topic rule ${name}: unknown error queue ${rule.errorQueue}`);
    const levels = rule.topicFilter.split('/');
    for (const field of rule.fields ?? []) {
      if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(field)) problems.push(`topic rule ${name}: field "${field}" is not a name`);
      if (Object.hasOwn(rule.select, field))
        problems.push(`topic rule ${name}: field "${field}" is also set by the rule`);
    }
    for (const sel of [...Object.values(rule.select), rule.action.kinesis.partitionKey])
      if (sel.fn === 'topic' && (sel.segment < 1 || sel.segment > levels.length))
        problems.push(`topic rule ${name}: topic(${sel.segment}) is outside ${rule.topicFilter}`);
  }
  if (!Object.hasOwn(t.functions, t.authorizer.function))
    problems.push(`authorizer: unknown function ${t.authorizer.function}`);
  if (t.authorizer.resultTtlSeconds < 0 || t.authorizer.resultTtlSeconds > 3600)
    problems.push('authorizer: TTL 0..3600 s');
  if (t.authorizer.resultTtlSeconds > 0 && t.authorizer.identitySources.length === 0)
    problems.push('authorizer: a cache TTL needs identity sources (API Gateway keys its cache on them)');
  if (!Object.hasOwn(t.functions, t.iotAuthorizer.function))
    problems.push(`IoT authorizer: unknown function ${t.iotAuthorizer.function}`);
  else {
    const refresh = Number(t.functions[t.iotAuthorizer.function].environment?.DEVICE_POLICY_REFRESH_SECONDS ?? 300);
    if (!Number.isInteger(refresh) || refresh < 300 || refresh > 86_400)
      problems.push('IoT authorizer: DEVICE_POLICY_REFRESH_SECONDS must be 300..86400 (IoT Core refuses others)');
  }
  problems.push(...webSocketProblems(t));
  problems.push(...deliveryProblems(t));
  problems.push(...archiveProblems(t));
  for (const sc of t.schedules) {
    if (!Object.hasOwn(t.functions, sc.function)) problems.push(`schedule: unknown function ${sc.function}`);
    // EventBridge's finest rate is one minute.
    if (!Number.isInteger(sc.rateMinutes) || sc.rateMinutes < 1 || sc.rateMinutes > 1440)
      problems.push(`schedule ${sc.function}: rateMinutes 1..1440`);
  }
  for (const [name, fn] of Object.entries(t.functions))
    for (const b of fn.bindings)
      if (
        ![t.streams, t.tables, t.queues, t.keys, t.endpoints, t.archives].some((group) =>
          Object.hasOwn(group, b.resource),
        )
      )
        problems.push(`function ${name}: binding to unknown resource ${b.resource}`);
  return problems;
}

/** Firehose's own limits for an S3 destination, so a bad archive fails here and not halfway through a deploy. */
function archiveProblems(t: Topology): string[] {
  const problems: string[] = [];
  for (const [name, a] of Object.entries(t.archives)) {
    if (!Number.isInteger(a.bufferIntervalSeconds) || a.bufferIntervalSeconds < 0 || a.bufferIntervalSeconds > 900)
      problems.push(`archive ${name}: bufferIntervalSeconds 0..900`);
    if (!Number.isInteger(a.bufferSizeMb) || a.bufferSizeMb < 1 || a.bufferSizeMb > 128)
      problems.push(`archive ${name}: bufferSizeMb 1..128`);
    for (const [field, prefix] of [
      ['prefix', a.prefix],
      ['errorPrefix', a.errorPrefix],
    ] as const) {
      if (!prefix.endsWith('/') || prefix.startsWith('/'))
        problems.push(`archive ${name}: ${field} must end with / and not start with one`);
      if (!prefix.includes('!{timestamp:')) problems.push(`archive ${name}: ${field} needs a !{timestamp:...} part`);
    }
    // Firehose refuses an error prefix without it once the prefix has expressions.
    if (!a.errorPrefix.includes('!{firehose:error-output-type}'))
      problems.push(`archive ${name}: errorPrefix needs !{firehose:error-output-type}`);
  }
  return problems;
}

function webSocketProblems(t: Topology): string[] {
  const ws = t.webSocket;
  const problems: string[] = [];
  for (const fn of [ws.authorizer, ...Object.values(ws.routes)])
    if (!Object.hasOwn(t.functions, fn)) problems.push(`webSocket: unknown function ${fn}`);
  if (!/^[a-z0-9_]+\.ws\.[a-z0-9_]+$/.test(ws.permission))
    problems.push(`webSocket: permission "${ws.permission}" is not <app>.ws.<view>`);
  if (!Object.hasOwn(t.tables, ws.connectionsTable))
    problems.push(`webSocket: unknown connections table ${ws.connectionsTable}`);
  if (t.endpoints[ws.managementEndpoint]?.service !== 'ws-management')
    problems.push(`webSocket: ${ws.managementEndpoint} is not a ws-management endpoint`);
  if (!/^[A-Za-z0-9_]{1,128}$/.test(ws.stage)) problems.push('webSocket: stage name is alphanumeric/underscore');
  const l = ws.limits;
  if (
    l.connectionsPerPrincipal < 1 ||
    l.subscriptionsPerConnection < 1 ||
    l.eventsPerSecond < 1 ||
    l.burst < l.eventsPerSecond
  )
    problems.push('webSocket: limits must be positive, burst at least the rate');
  return problems;
}

/** Where failures and alerts go, and the names the AWS target derives from the topology's (checked for both). */
function deliveryProblems(t: Topology): string[] {
  const problems: string[] = [];
  // Only `errorSink` queues are alarmed: a failure landing in a `delivery` queue would go unnoticed, unless the
  // queue's own consumer retries it (its dead-letter queue and its message age are alarmed).
  const retried = new Set<string>(t.queueConsumers.map((c) => c.queue));
  const destinations = new Set<string>([
    ...t.streamConsumers.map((c) => c.onFailure),
    ...Object.values(t.topicRules).map((r) => r.errorQueue),
  ]);
  const unalarmed = [...destinations].filter(
    (q) => Object.hasOwn(t.queues, q) && t.queues[q as QueueName].kind !== 'errorSink' && !retried.has(q),
  );
  if (unalarmed.length > 0)
    problems.push(
      `failure destinations must be alarmed errorSink queues (or consumed by a queue consumer): ${unalarmed.join(', ')}`,
    );
  // A delivery queue's dead-letter queue takes `<name>DeadLetter` (its output key, alarm and local queue name).
  const names = new Set<string>([t.streams, t.tables, t.queues, t.keys, t.endpoints].flatMap(Object.keys));
  const taken = Object.entries(t.queues)
    .filter(([, q]) => q.kind === 'delivery')
    .map(([q]) => deadLetterName(q))
    .filter((n) => names.has(n));
  if (taken.length > 0) problems.push(`dead-letter queue names already used by the topology: ${taken.join(', ')}`);
  // One WebSocket API: a second management endpoint would have no API of its own.
  for (const [name, e] of Object.entries(t.endpoints))
    if (e.service === 'ws-management' && name !== t.webSocket.managementEndpoint)
      problems.push(`endpoint ${name}: the WebSocket API's management endpoint is ${t.webSocket.managementEndpoint}`);
  // One event source mapping per function and stream (Lambda refuses a second on the same source).
  const consumerKeys = t.streamConsumers.map((c) => `${c.stream}:${c.function}`);
  const twice = consumerKeys.filter((k, i) => consumerKeys.indexOf(k) !== i);
  if (twice.length > 0) problems.push(`a function consumes a stream at most once: ${[...new Set(twice)].join(', ')}`);
  // The alert e-mail path (ADR 0015) reads the one queue of alert messages; a dead-letter queue keeps what it fails on.
  const alertQueues = Object.entries(t.queues).filter(([, q]) => q.alertMessages);
  if (alertQueues.length > 1)
    problems.push(`at most one queue holds the alert messages: ${alertQueues.map(([q]) => q).join(', ')}`);
  for (const [q, spec] of alertQueues)
    if (spec.kind !== 'delivery') problems.push(`queue ${q}: the alert messages queue must be a delivery queue`);
  // IoT Core's rule for authorizer names; devices name it in their MQTT username.
  if (!/^[\w=,@-]{1,128}$/.test(t.iotAuthorizer.name))
    problems.push(`IoT authorizer: name "${t.iotAuthorizer.name}" is not 1..128 of [A-Za-z0-9_=,@-]`);
  return problems;
}

export function assertValidTopology(t: Topology): void {
  const problems = validateTopology(t);
  if (problems.length > 0) throw new Error(`Invalid topology:\n- ${problems.join('\n- ')}`);
}

import { createServer, type Server } from 'node:net';
import { Aedes, type AedesPublishPacket, type Client } from 'aedes';
import { evaluatePolicy, type PolicyDocument } from '../../shared/domain/iam-policy';
import type { RateLimits } from '../../shared/domain/rate-limits';
import { RateLimiter } from '../../shared/domain/token-bucket';
import { applyTopicRule, ruleTopic } from '../../shared/domain/topic-rule';
import { mqttTopicMatches, type TopicRuleSpec } from '../topology';

/** IoT policy resources are `arn:aws:iot:<region>:<account>:client/<id>`, `topic/<t>`, `topicfilter/<f>`. */
export const LOCAL_IOT_ARN_PREFIX = 'arn:aws:iot:us-east-1:000000000000';

/**
 * IoT Core's message broker quota "Publish requests per second per connection": 100, not adjustable. Over it IoT
 * Core throttles the publish and disconnects the client (lifecycle `disconnectReason` THROTTLED); the broker does the
 * same: the publish over the limit reaches no rule and no subscriber, and the connection is closed (ADR 0013).
 */
export const IOT_PUBLISH_LIMIT: RateLimits = { rate: 100, burst: 100 };

/** MQTT 3.1.1 CONNACK return codes. */
const BAD_USERNAME_OR_PASSWORD = 4;
/** IoT Core: the payload of a PUBLISH is at most 128 KB. */
export const IOT_MAX_PAYLOAD_BYTES = 128 * 1024;
const NOT_AUTHORIZED = 5;

export interface BrokerDeps {
  rules: Readonly<Record<string, TopicRuleSpec>>;
  /** Hands a rule's selected message to its action (IoT Core runs actions asynchronously, after the PUBACK). */
  deliver: (
    ruleName: string,
    rule: TopicRuleSpec,
    record: { partitionKey: string; data: Buffer },
    message: RuleMessage,
  ) => void;
  /** The rule's error action: where a message goes when the rule cannot act on it. */
  ruleError: (ruleName: string, rule: TopicRuleSpec, message: RuleMessage, errorMessage: string) => void;
  log: (message: string, fields?: Record<string, unknown>) => void;
  /**
   * The custom authorizer (IoT Core calls it on CONNECT, and again at each policy refresh of the connection): the
   * IoT policy for this connection with its refresh and disconnect intervals, or undefined to refuse it.
   */
  authenticate: (
    clientId: string,
    username: string | undefined,
    password: Buffer | undefined,
  ) => Promise<ConnectionGrant | undefined>;
  /** Publishes per second per connection (default IoT Core's, IOT_PUBLISH_LIMIT). */
  publishLimit?: RateLimits;
}

/** What the custom authorizer grants a connection (IoT Core's `policyDocuments`, `refreshAfterInSeconds`, ...). */
export interface ConnectionGrant {
  policy: PolicyDocument;
  refreshAfterSeconds?: number;
  disconnectAfterSeconds?: number;
}

/** A live connection's authorization: its policy, the credentials it connected with, and its timers. */
interface Session {
  policy: PolicyDocument;
  username: string | undefined;
  password: Buffer | undefined;
  timers: NodeJS.Timeout[];
  /** This connection's key in the publish limiter. */
  meterKey: string;
}

/** The message a rule acted on: what its error action reports when the action fails. */
export interface RuleMessage {
  /** As published (with the Basic Ingest prefix, if any). */
  topic: string;
  clientId: string;
  payload: Buffer;
}

/**
 * Stands in for AWS IoT Core: an MQTT 3.1.1 broker (aedes) plus the topic rules, applied to every publish as IoT's
 * rules engine would (`SELECT *, <extras> FROM '<filter>'`). A publish on `$aws/rules/<rule>/<topic>` (Basic
 * Ingest) goes to that rule only, as if published on `<topic>`, and reaches no subscriber.
 */
export class IotBroker {
  private aedes: Aedes | undefined;
  private server: Server | undefined;
  private readonly sessions = new Map<Client, Session>();
  messagesRouted = 0;
  connectionsRefused = 0;
  publishesRefused = 0;
  publishesTooLarge = 0;
  /** Live connections closed because a policy refresh refused them (revoked device or permission). */
  connectionsRevoked = 0;
  /** Connections closed for publishing faster than the per-connection limit (IoT Core's THROTTLED). */
  connectionsThrottled = 0;
  private readonly publishMeter = new RateLimiter();
  private sessionCount = 0;

  constructor(private readonly deps: BrokerDeps) {}

  async listen(port: number): Promise<number> {
    const aedes = await Aedes.createBroker({
      authenticate: (client, username, password, done) => {
        this.deps.authenticate(client.id, username, password).then(
          (grant) => {
            if (grant && mayConnect(grant.policy, client.id)) {
              this.open(client, grant, username, password);
              return done(null, true);
            }
            this.connectionsRefused++;
            const error = Object.assign(new Error('connection refused'), {
              returnCode: grant ? NOT_AUTHORIZED : BAD_USERNAME_OR_PASSWORD,
            });
            done(error as Parameters<typeof done>[0], false);
          },
          (error: Error) => {
            this.deps.log('device authorizer failed', { error: error.message });
            this.connectionsRefused++;
            done(
              Object.assign(new Error('authorizer failed'), { returnCode: NOT_AUTHORIZED }) as Parameters<
                typeof done
              >[0],
              false,
            );
          },
        );
      },
      // As in IoT Core, a publish the policy does not allow disconnects the client.
      authorizePublish: (client, packet, done) => {
        const session = client ? this.sessions.get(client) : undefined;
        // IoT Core's message size quota: a larger PUBLISH is refused (CLIENT_ERROR PAYLOAD_LIMIT_EXCEEDED) and, here
        // as for a refused publish, the connection is closed; nothing of it reaches a rule or a subscriber.
        const bytes = Buffer.isBuffer(packet.payload) ? packet.payload.length : Buffer.byteLength(packet.payload);
        if (bytes > IOT_MAX_PAYLOAD_BYTES) {
          this.publishesTooLarge++;
          this.deps.log('device connection closed: message over the payload limit', {
            clientId: client?.id,
            bytes,
            disconnectReason: 'PAYLOAD_LIMIT_EXCEEDED',
          });
          return done(new Error(`PAYLOAD_LIMIT_EXCEEDED: ${bytes} bytes, at most ${IOT_MAX_PAYLOAD_BYTES}`));
        }
        if (
          !session ||
          evaluatePolicy(session.policy, `${LOCAL_IOT_ARN_PREFIX}:topic/${packet.topic}`, 'iot:Publish') !== 'Allow'
        ) {
          this.publishesRefused++;
          return done(new Error(`publish to ${packet.topic} not authorized`));
        }
        // The per-connection publish limit: over it, the publish is dropped and the client disconnected (THROTTLED).
        const metered = this.publishMeter.take(
          session.meterKey,
          this.deps.publishLimit ?? IOT_PUBLISH_LIMIT,
          Date.now(),
        );
        if (metered.allowed) return done(null);
        this.connectionsThrottled++;
        this.deps.log('device connection closed: over the publish limit per connection', {
          clientId: client?.id,
          disconnectReason: 'THROTTLED',
        });
        done(new Error('THROTTLED: over the publish requests per second of a connection'));
      },
      // A refused subscription gets SUBACK 0x80 (failure), the connection stays.
      authorizeSubscribe: (client, subscription, done) => {
        const policy = client ? this.sessions.get(client)?.policy : undefined;
        const allowed =
          policy &&
          evaluatePolicy(policy, `${LOCAL_IOT_ARN_PREFIX}:topicfilter/${subscription.topic}`, 'iot:Subscribe') ===
            'Allow';
        done(null, allowed ? subscription : null);
      },
    });
    this.aedes = aedes;
    aedes.on('clientDisconnect', (client: Client) => this.endSession(client));
    aedes.on('clientError', (client: Client) => this.endSession(client));
    aedes.on('publish', (packet: AedesPublishPacket, client: Client | null) => {
      if (!client || packet.topic.startsWith('$SYS/')) return;
      this.applyRules(packet, client);
    });
    const server = createServer(aedes.handle);
    this.server = server;
    return new Promise((resolve, reject) => {
      server.on('error', reject);
      server.listen(port, '127.0.0.1', () => {
        const address = server.address();
        resolve(typeof address === 'object' && address ? address.port : port);
      });
    });
  }

  /** Starts a connection's session: IoT Core refreshes its policy and ends it at the intervals the authorizer set. */
  private open(client: Client, grant: ConnectionGrant, username: string | undefined, password: Buffer | undefined) {
    this.endSession(client);
    const session: Session = {
      policy: grant.policy,
      username,
      password,
      timers: [],
      meterKey: `${client.id}#${++this.sessionCount}`,
    };
    this.sessions.set(client, session);
    if (grant.disconnectAfterSeconds)
      session.timers.push(setTimeout(() => client.close(), grant.disconnectAfterSeconds * 1000).unref());
    if (grant.refreshAfterSeconds) this.scheduleRefresh(client, session, grant.refreshAfterSeconds);
  }

  private scheduleRefresh(client: Client, session: Session, seconds: number): void {
    const timer = setTimeout(() => {
      this.deps.authenticate(client.id, session.username, session.password).then(
        (grant) => {
          if (this.sessions.get(client) !== session) return; // gone meanwhile
          if (!grant || !mayConnect(grant.policy, client.id)) {
            this.connectionsRevoked++;
            this.deps.log('device connection closed at its policy refresh', { clientId: client.id });
            client.close();
            return;
          }
          session.policy = grant.policy;
          this.scheduleRefresh(client, session, grant.refreshAfterSeconds ?? seconds);
        },
        // The authorizer could not decide (its table down): the connection keeps its policy, retried later.
        () => this.scheduleRefresh(client, session, Math.min(seconds, 30)),
      );
    }, seconds * 1000).unref();
    session.timers.push(timer);
  }

  private endSession(client: Client): void {
    const session = this.sessions.get(client);
    if (!session) return;
    for (const timer of session.timers) clearTimeout(timer);
    this.publishMeter.forget(session.meterKey);
    this.sessions.delete(client);
  }

  get connections(): number {
    return this.sessions.size;
  }

  private applyRules(packet: AedesPublishPacket, client: Client): void {
    const { topic, only } = ruleTopic(packet.topic);
    for (const [name, rule] of Object.entries(this.deps.rules)) {
      if (only !== undefined && name !== only) continue;
      // A Basic Ingest topic must still be one the rule's filter takes (IoT leaves FROM optional for such rules;
      // matching it keeps the rule's topic() segments meaningful).
      if (!mqttTopicMatches(rule.topicFilter, topic)) continue;
      const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
      const message: RuleMessage = { topic: packet.topic, clientId: client.id, payload };
      let outcome: ReturnType<typeof applyTopicRule>;
      try {
        outcome = applyTopicRule(rule, payload, {
          publishedTopic: packet.topic,
          clientId: client.id,
          timestamp: Date.now(),
        });
      } catch (error) {
        // A message must never take the broker down: one the rule cannot evaluate ends in its error action.
        this.deps.log('topic rule failed on a message', { rule: name, error: (error as Error).message });
        outcome = { ok: false, errorMessage: 'the rule could not evaluate the payload' };
      }
      if (!outcome.ok) {
        this.deps.ruleError(name, rule, message, outcome.errorMessage);
        continue;
      }
      this.messagesRouted++;
      this.deps.deliver(name, rule, outcome.record, message);
    }
  }

  /** Publishes as the cloud side does (the IoT data plane): alerts to devices. */
  publish(topic: string, payload: Buffer, qos: 0 | 1 = 1): Promise<void> {
    return new Promise((resolve, reject) => {
      if (!this.aedes) return reject(new Error('broker not started'));
      this.aedes.publish({ cmd: 'publish', topic, payload, qos, retain: false, dup: false }, (error) =>
        error ? reject(error) : resolve(),
      );
    });
  }

  async close(): Promise<void> {
    for (const client of [...this.sessions.keys()]) this.endSession(client);
    await new Promise<void>((resolve) => (this.aedes ? this.aedes.close(() => resolve()) : resolve()));
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

function mayConnect(policy: PolicyDocument, clientId: string): boolean {
  return evaluatePolicy(policy, `${LOCAL_IOT_ARN_PREFIX}:client/${clientId}`, 'iot:Connect') === 'Allow';
}

import { createServer, type Server } from 'node:net';
import { Aedes, type AedesPublishPacket, type Client } from 'aedes';
import { evaluatePolicy, type PolicyDocument } from '../../shared/domain/iam-policy';
import { mqttTopicMatches, type TopicRuleSpec } from '../topology';

/** IoT policy resources are `arn:aws:iot:<region>:<account>:client/<id>`, `topic/<t>`, `topicfilter/<f>`. */
export const LOCAL_IOT_ARN_PREFIX = 'arn:aws:iot:us-east-1:000000000000';

/** MQTT 3.1.1 CONNACK return codes. */
const BAD_USERNAME_OR_PASSWORD = 4;
const NOT_AUTHORIZED = 5;

export interface BrokerDeps {
  rules: Readonly<Record<string, TopicRuleSpec>>;
  /** Hands a rule's selected message to its function (asynchronously, as IoT Core does). */
  deliver: (ruleName: string, rule: TopicRuleSpec, event: Record<string, unknown>) => void;
  /** The rule's error action: where a message goes when the rule cannot deliver it. */
  ruleError: (ruleName: string, rule: TopicRuleSpec, errorRecord: Record<string, unknown>) => void;
  log: (message: string, fields?: Record<string, unknown>) => void;
  /**
   * The custom authorizer (IoT Core calls it on CONNECT): the IoT policy for this connection, or undefined to
   * refuse it.
   */
  authenticate: (
    clientId: string,
    username: string | undefined,
    password: Buffer | undefined,
  ) => Promise<PolicyDocument | undefined>;
}

/**
 * Stands in for AWS IoT Core: an MQTT 3.1.1 broker (aedes) plus the topic rules, applied to every publish as IoT's
 * rules engine would (`SELECT *, <extras> FROM '<filter>'`).
 */
export class IotBroker {
  private aedes: Aedes | undefined;
  private server: Server | undefined;
  private readonly policies = new WeakMap<Client, PolicyDocument>();
  messagesRouted = 0;
  connectionsRefused = 0;
  publishesRefused = 0;

  constructor(private readonly deps: BrokerDeps) {}

  async listen(port: number): Promise<number> {
    const aedes = await Aedes.createBroker({
      authenticate: (client, username, password, done) => {
        this.deps.authenticate(client.id, username, password).then(
          (policy) => {
            if (
              policy &&
              evaluatePolicy(policy, `${LOCAL_IOT_ARN_PREFIX}:client/${client.id}`, 'iot:Connect') === 'Allow'
            ) {
              this.policies.set(client, policy);
              return done(null, true);
            }
            this.connectionsRefused++;
            const error = Object.assign(new Error('connection refused'), {
              returnCode: policy ? NOT_AUTHORIZED : BAD_USERNAME_OR_PASSWORD,
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
        const policy = client ? this.policies.get(client) : undefined;
        if (
          policy &&
          evaluatePolicy(policy, `${LOCAL_IOT_ARN_PREFIX}:topic/${packet.topic}`, 'iot:Publish') === 'Allow'
        )
          return done(null);
        this.publishesRefused++;
        done(new Error(`publish to ${packet.topic} not authorized`));
      },
      // A refused subscription gets SUBACK 0x80 (failure), the connection stays.
      authorizeSubscribe: (client, subscription, done) => {
        const policy = client ? this.policies.get(client) : undefined;
        const allowed =
          policy &&
          evaluatePolicy(policy, `${LOCAL_IOT_ARN_PREFIX}:topicfilter/${subscription.topic}`, 'iot:Subscribe') ===
            'Allow';
        done(null, allowed ? subscription : null);
      },
    });
    this.aedes = aedes;
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

  private applyRules(packet: AedesPublishPacket, client: Client): void {
    for (const [name, rule] of Object.entries(this.deps.rules)) {
      if (!mqttTopicMatches(rule.topicFilter, packet.topic)) continue;
      const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
      let selected: unknown;
      try {
        selected = JSON.parse(payload.toString('utf8'));
      } catch {
        selected = undefined;
      }
      if (selected === null || typeof selected !== 'object' || Array.isArray(selected)) {
        this.deps.ruleError(name, rule, {
          ruleName: name,
          topic: packet.topic,
          clientId: client.id,
          base64OriginalPayload: payload.toString('base64'),
          failures: [
            {
              failedAction: 'LambdaAction',
              failedResource: rule.function,
              errorMessage: 'payload is not a JSON object',
            },
          ],
        });
        continue;
      }
      const payloadFields = selected as Record<string, unknown>;
      // SELECT <fields>: only the named payload fields (absent ones are left out, as IoT SQL does); SELECT *: all.
      const event: Record<string, unknown> = rule.fields
        ? Object.fromEntries(
            rule.fields.filter((f) => Object.hasOwn(payloadFields, f)).map((f) => [f, payloadFields[f]]),
          )
        : { ...payloadFields };
      const levels = packet.topic.split('/');
      for (const [alias, sel] of Object.entries(rule.select)) {
        if (sel.fn === 'topic') event[alias] = levels[sel.segment - 1];
        else if (sel.fn === 'timestamp') event[alias] = Date.now();
        else event[alias] = client.id;
      }
      this.messagesRouted++;
      this.deps.deliver(name, rule, event);
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
    await new Promise<void>((resolve) => (this.aedes ? this.aedes.close(() => resolve()) : resolve()));
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

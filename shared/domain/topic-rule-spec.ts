/** A value the rule computes rather than takes from the payload (`topic(2)`, `timestamp()`, `clientid()`). */
export type RuleExpression = { fn: 'topic'; segment: number } | { fn: 'timestamp' } | { fn: 'clientid' };

/**
 * An IoT topic rule as structured data rather than raw SQL, so the local broker can apply it without an IoT SQL
 * parser and the CDK stack renders the SQL from it (`topicRuleSql`). Devices reach it on its topic filter (through
 * the message broker) or with IoT Basic Ingest on `$aws/rules/<rule name>/<topic>` (no broker, no messaging charge;
 * `topic()` then sees the topic without that prefix), in both targets.
 */
export interface TopicRuleSpec<S extends string = string, Q extends string = string> {
  topicFilter: string;
  /**
   * Payload fields the rule passes on (`SELECT metrics, ts, ...`); all of them (`*`) when absent. Naming them keeps a
   * payload from supplying a field the rule itself sets, such as the device id taken from the topic.
   */
  fields?: readonly string[];
  /** Fields the rule adds (`topic(2) AS deviceId ...`). */
  select: Readonly<Record<string, RuleExpression>>;
  /**
   * The rule's action: each message becomes one record on the stream (IoT's Kinesis action), keyed by the
   * partition key expression (`${topic(2)}`), so one device's readings stay in order on one shard. No function runs
   * per message; the stream's consumers validate readings in batches.
   */
  action: { kinesis: { stream: S; partitionKey: RuleExpression } };
  errorQueue: Q;
}

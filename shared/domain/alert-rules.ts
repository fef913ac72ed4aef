import { z } from 'zod';
import alertRulesDocument from '../../policies/alert-rules.json' with { type: 'json' };

/** The same metric names a device may send (`shared/domain/telemetry.ts`). */
const MetricNameSchema = z.string().regex(/^[A-Za-z][A-Za-z0-9_]{0,63}$/, 'must be a telemetry metric name');

export const ComparisonSchema = z.enum(['>', '>=', '<', '<=']);
export type Comparison = z.infer<typeof ComparisonSchema>;

export const SeveritySchema = z.enum(['info', 'warning', 'critical']);
export type Severity = z.infer<typeof SeveritySchema>;

export const DEFAULT_COOLDOWN_MINUTES = 15;

export const AlertRuleSchema = z.strictObject({
  /** Keys the per-device state (`STATE#<deviceId>#<ruleId>`) and the alert id: no `#`, stable across edits. */
  id: z.string().regex(/^[a-z][a-z0-9-]{0,63}$/, 'must be lower-case letters, digits and -, starting with a letter'),
  description: z.string().min(1).max(500),
  metric: MetricNameSchema,
  comparison: ComparisonSchema,
  threshold: z.number().finite(),
  severity: SeveritySchema,
  /** After a raise, no new alert for this device and rule until this many minutes (of reading time) have passed. */
  cooldownMinutes: z
    .number()
    .int()
    .min(0)
    .max(7 * 24 * 60)
    .default(DEFAULT_COOLDOWN_MINUTES),
  /** The condition must hold for `count` consecutive readings of the device before the alert is raised. */
  window: z.strictObject({ count: z.number().int().min(1).max(1000) }).optional(),
});
export type AlertRule = z.output<typeof AlertRuleSchema>;

export const AlertRulesDocumentSchema = z.strictObject({
  $comment: z.string().optional(),
  rules: z.array(AlertRuleSchema).superRefine((rules, ctx) => {
    const seen = new Set<string>();
    rules.forEach((rule, index) => {
      if (seen.has(rule.id))
        ctx.addIssue({ code: 'custom', message: `duplicate rule id ${rule.id}`, path: [index, 'id'] });
      seen.add(rule.id);
    });
  }),
});

export function parseAlertRules(document: unknown): AlertRule[] {
  return AlertRulesDocumentSchema.parse(document).rules;
}

/** Parsed once per container: a malformed alert-rules.json fails the cold start (and the unit tests) with zod's message. */
export const alertRules: readonly AlertRule[] = parseAlertRules(alertRulesDocument);

export function conditionHolds(rule: Pick<AlertRule, 'comparison' | 'threshold'>, value: number): boolean {
  switch (rule.comparison) {
    case '>':
      return value > rule.threshold;
    case '>=':
      return value >= rule.threshold;
    case '<':
      return value < rule.threshold;
    case '<=':
      return value <= rule.threshold;
  }
}

/** Readings needed in a row before a raise (1 without a window). */
export function windowCount(rule: Pick<AlertRule, 'window'>): number {
  return rule.window?.count ?? 1;
}

/** The rules that apply to a reading, each with the value of its metric (rules on absent metrics are skipped). */
export function applicableRules(
  rules: readonly AlertRule[],
  metrics: Readonly<Record<string, number>>,
): { rule: AlertRule; value: number }[] {
  return rules.flatMap((rule) => {
    const value = Object.hasOwn(metrics, rule.metric) ? metrics[rule.metric] : undefined;
    return typeof value === 'number' && Number.isFinite(value) ? [{ rule, value }] : [];
  });
}

import { describe, expect, it } from 'vitest';
import alertRulesJson from '../../policies/alert-rules.json' with { type: 'json' };
import {
  type AlertRule,
  AlertRulesDocumentSchema,
  alertRules,
  applicableRules,
  conditionHolds,
  DEFAULT_COOLDOWN_MINUTES,
  parseAlertRules,
  windowCount,
} from '../../shared/domain/alert-rules';

const rule = {
  id: 'hot',
  description: 'too hot',
  metric: 'temperature',
  comparison: '>',
  threshold: 80,
  severity: 'critical',
};
const issues = (document: unknown) => {
  const parsed = AlertRulesDocumentSchema.safeParse(document);
  return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('shipped alert rules', () => {
  it('parse, and the module exports exactly what the file says', () => {
    expect(issues(alertRulesJson)).toEqual([]);
    expect(alertRules).toEqual(parseAlertRules(alertRulesJson));
    expect(alertRules.length).toBeGreaterThan(0);
  });

  it('include temperature > 80 as critical with a 15 minute cooldown (id high-temperature)', () => {
    expect(alertRules.find((r) => r.id === 'high-temperature')).toEqual({
      id: 'high-temperature',
      description: expect.any(String),
      metric: 'temperature',
      comparison: '>',
      threshold: 80,
      severity: 'critical',
      cooldownMinutes: 15,
    });
  });
});

describe('alert rules schema', () => {
  it('accepts a minimal rule and defaults the cooldown to 15 minutes', () => {
    const [parsed] = parseAlertRules({ rules: [rule] });
    expect(parsed?.cooldownMinutes).toBe(DEFAULT_COOLDOWN_MINUTES);
    expect(DEFAULT_COOLDOWN_MINUTES).toBe(15);
    expect(parsed?.window).toBeUndefined();
  });

  it('accepts every comparison and severity, and a window', () => {
    for (const comparison of ['>', '>=', '<', '<='])
      for (const severity of ['info', 'warning', 'critical'])
        expect(issues({ rules: [{ ...rule, comparison, severity, window: { count: 3 } }] })).toEqual([]);
  });

  it('rejects a bad comparison', () => {
    expect(issues({ rules: [{ ...rule, comparison: '=>' }] })).toEqual([
      expect.stringMatching(/^rules\.0\.comparison: /),
    ]);
    expect(issues({ rules: [{ ...rule, comparison: '==' }] })).toHaveLength(1);
  });

  it('rejects duplicate ids, naming the second one', () => {
    expect(issues({ rules: [rule, { ...rule, metric: 'humidity' }] })).toEqual(['rules.1.id: duplicate rule id hot']);
  });

  it.each([
    ['an unknown severity', { severity: 'fatal' }, '0.severity'],
    ['an id with #', { id: 'hot#1' }, '0.id'],
    ['an upper-case id', { id: 'Hot' }, '0.id'],
    ['a metric name a device cannot send', { metric: 'temp-c' }, '0.metric'],
    ['a non-numeric threshold', { threshold: '80' }, '0.threshold'],
    ['a negative cooldown', { cooldownMinutes: -1 }, '0.cooldownMinutes'],
    ['a fractional cooldown', { cooldownMinutes: 1.5 }, '0.cooldownMinutes'],
    ['a window of 0 readings', { window: { count: 0 } }, '0.window.count'],
    ['a window with a duration (not supported)', { window: { count: 2, minutes: 5 } }, '0.window'],
    ['an unknown key (a typo)', { treshold: 80 }, '0'],
    ['an empty description', { description: '' }, '0.description'],
  ])('rejects %s', (_what, change, path) => {
    expect(issues({ rules: [{ ...rule, ...change }] })).toEqual([
      expect.stringMatching(new RegExp(`^rules\\.${path.replaceAll('.', '\\.')}: `)),
    ]);
  });

  it('rejects a document without rules or with unknown top-level keys', () => {
    expect(issues({})).toHaveLength(1);
    expect(issues({ rules: [], extra: true })).toHaveLength(1);
    expect(issues({ $comment: 'ok', rules: [] })).toEqual([]);
  });
});

describe('condition evaluation', () => {
  it.each([
    ['>', 80, 80.0001, true],
    ['>', 80, 80, false],
    ['>=', 80, 80, true],
    ['>=', 80, 79.9, false],
    ['<', 10, 9.99, true],
    ['<', 10, 10, false],
    ['<=', 10, 10, true],
    ['<=', 10, 10.01, false],
    ['<', 0, -5, true],
  ] as const)('%s %d with value %d -> %s', (comparison, threshold, value, expected) => {
    expect(conditionHolds({ comparison, threshold }, value)).toBe(expected);
  });

  it('the window count is 1 without a window', () => {
    expect(windowCount({})).toBe(1);
    expect(windowCount({ window: { count: 4 } })).toBe(4);
  });

  it('applies only the rules whose metric the reading carries', () => {
    const rules = parseAlertRules({
      rules: [rule, { ...rule, id: 'damp', metric: 'humidity' }, { ...rule, id: 'proto', metric: 'constructor' }],
    }) as AlertRule[];
    expect(applicableRules(rules, { temperature: 85, pressure: 1 })).toEqual([{ rule: rules[0], value: 85 }]);
    expect(applicableRules(rules, { humidity: 0 }).map((a) => a.rule.id)).toEqual(['damp']);
    expect(applicableRules(rules, {})).toEqual([]);
  });
});

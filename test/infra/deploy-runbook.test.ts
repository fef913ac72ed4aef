import * as fs from 'node:fs';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { stackSettings } from '../../infra/aws/app';
import { TelemetryEventMeshStack } from '../../infra/aws/stack';
import { stubRepoRoot } from './stub-root';

// docs/runbooks/deploy.md restates what the stack builds (its alarms and outputs): checked here against the default
// stack's template, built as in observability.test.ts (a stand-in repository root, bundling skipped).
const stubRoot = stubRepoRoot('runbook-test');

const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
const stack = new TelemetryEventMeshStack(app, 'TelemetryEventMesh', { repoRoot: stubRoot, ...stackSettings(app) });
const template = Template.fromStack(stack).toJSON() as {
  Resources: Record<string, { Type: string }>;
  Outputs: Record<string, unknown>;
};

const runbook = fs.readFileSync(new URL('../../docs/runbooks/deploy.md', import.meta.url), 'utf8');

/** The body rows of the Markdown table that follows `heading`, as cells. */
function tableAfter(heading: string): string[][] {
  const from = runbook.indexOf(heading);
  if (from < 0) throw new Error(`no section ${heading} in deploy.md`);
  const lines = runbook.slice(from).split('\n');
  const start = lines.findIndex((l) => l.startsWith('|'));
  const table: string[] = [];
  for (const line of lines.slice(start)) {
    if (!line.startsWith('|')) break;
    table.push(line);
  }
  return table.slice(2).map((l) =>
    l
      .split(/(?<!\\)\|/)
      .slice(1, -1)
      .map((c) => c.trim()),
  );
}

const ALARM_KINDS: Record<string, RegExp> = {
  queueBacklog: /QueueBacklogAlarm/,
  iteratorAge: /IteratorAgeAlarm/,
  functionErrors: /FunctionErrorsAlarm/,
  errorLogLines: /ErrorLogLinesAlarm/,
  apiServerErrors: /ApiServerErrorsAlarm/,
  deliveryFreshness: /DeliveryFreshnessAlarm/,
  deliveryFailures: /DeliveryFailuresAlarm/,
};

describe('docs/runbooks/deploy.md says what the default stack builds', () => {
  const alarmIds = Object.entries(template.Resources)
    .filter(([, r]) => r.Type === 'AWS::CloudWatch::Alarm')
    .map(([id]) => id);

  it('the alarms table: every kind with its count, and the total', () => {
    const documented: Record<string, number> = {};
    for (const [first = ''] of tableAfter('## Alarms')) {
      const kind = /^`(\w+)`/.exec(first)?.[1] ?? '';
      const count = Number(/× (\d+)/.exec(first)?.[1] ?? 1);
      documented[kind] = (documented[kind] ?? 0) + count;
    }
    const built: Record<string, number> = {};
    for (const id of alarmIds) {
      const kind = Object.entries(ALARM_KINDS).find(([, pattern]) => pattern.test(id))?.[0] ?? `unknown ${id}`;
      built[kind] = (built[kind] ?? 0) + 1;
    }
    expect(documented).toEqual(built);
    expect(runbook).toContain(`alarms from the topology (${alarmIds.length} with the defaults)`);
  });

  it('the outputs table: every output the stack has (but CDK’s own ApiEndpoint…), and no other', () => {
    const documented = tableAfter('## Outputs').flatMap(([first = '']) =>
      [...first.matchAll(/`([A-Za-z]+)`/g)].map((m) => m[1] ?? ''),
    );
    const built = Object.keys(template.Outputs).filter((k) => !k.startsWith('ApiEndpoint'));
    expect([...documented].sort()).toEqual([...built].sort());
  });
});

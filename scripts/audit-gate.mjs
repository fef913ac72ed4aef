#!/usr/bin/env node
// CI's dependency audit: `npm audit --omit=dev` (the packages the functions ship with), failing on any vulnerable
// package that docs/reliability.md does not list as an exception ("Audit exceptions": lines "- `name`: why").
// When the registry does not serve the advisories endpoint (this workplace's registry answers 405), nothing can be
// checked: that is said loudly, and fails only with TEM_AUDIT_REQUIRED=1.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const run = spawnSync('npm', ['audit', '--omit=dev', '--json'], { encoding: 'utf8', timeout: 120_000 });
let report;
try {
  report = JSON.parse(run.stdout);
} catch {
  console.error(`audit: npm audit gave no report (exit ${run.status}): ${run.stderr.slice(0, 500)}`);
  process.exit(1);
}
if (report.vulnerabilities === undefined) {
  const why = report.message ?? report.error?.summary ?? JSON.stringify(report).slice(0, 300);
  console.error(`audit: NOT CHECKED: the registry did not answer the advisories endpoint (${why})`);
  process.exit(process.env.TEM_AUDIT_REQUIRED === '1' ? 1 : 0);
}
const doc = readFileSync(new URL('../docs/reliability.md', import.meta.url), 'utf8');
const section = doc.split(/^## Audit exceptions$/m)[1]?.split(/^## /m)[0] ?? '';
const excepted = new Set([...section.matchAll(/^- `([^`]+)`/gm)].map((m) => m[1]));
const vulnerable = Object.entries(report.vulnerabilities);
const undocumented = vulnerable.filter(([name]) => !excepted.has(name));
for (const [name, v] of vulnerable)
  console.log(`audit: ${name} ${v.severity} ${excepted.has(name) ? '(documented exception)' : 'UNDOCUMENTED'}`);
console.log(`audit: ${vulnerable.length} vulnerable production package(s), ${undocumented.length} undocumented`);
process.exit(undocumented.length > 0 ? 1 : 0);

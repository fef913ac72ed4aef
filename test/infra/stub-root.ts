import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll } from 'vitest';
import { functions } from '../../infra/topology';

/**
 * A stand-in repository root to synthesize the stack against with bundling skipped: a `package-lock.json` and an
 * empty handler at every function's entry. These tests check the template, not the bundles. Removed after the
 * calling file's tests.
 */
export function stubRepoRoot(name: string): string {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), `tem-${name}-`));
  fs.writeFileSync(path.join(root, 'package-lock.json'), '{}');
  for (const spec of Object.values(functions)) {
    fs.mkdirSync(path.dirname(path.join(root, spec.entry)), { recursive: true });
    fs.writeFileSync(path.join(root, spec.entry), 'export const handler = () => undefined;\n');
  }
  afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
  return root;
}

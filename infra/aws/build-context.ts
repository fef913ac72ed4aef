import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/** What the function bundles are made of: their imports reach nothing else (esbuild fails the synth if one does). */
const SOURCES = ['functions', 'shared', 'infra', 'policies', 'package.json', 'package-lock.json', 'tsconfig.json'];

function collect(root: string, rel: string, out: Map<string, Buffer>): void {
  const abs = path.join(root, rel);
  if (!fs.existsSync(abs)) return;
  if (fs.statSync(abs).isDirectory()) {
    for (const entry of fs.readdirSync(abs).sort()) collect(root, path.join(rel, entry), out);
  } else out.set(rel, fs.readFileSync(abs));
}

/**
 * The handlers import the policy documents as JSON modules (shared/domain/roles.ts, alert-rules.ts): esbuild compiles
 * them into every bundle. Bundles with other documents are built from another source tree: a copy of the sources
 * with `policies/` holding the given files, `node_modules` linked. Its directory is named by a hash of everything in
 * it, so the same sources and files give the same bundles (and assets) on every synth, and two synths never write
 * into one directory: it is written aside, then renamed into place.
 */
export function buildContext(repoRoot: string, files: { roles: string; alertRules: string }): string {
  const contents = new Map<string, Buffer>();
  for (const source of SOURCES) collect(repoRoot, source, contents);
  contents.set(path.join('policies', 'roles.json'), fs.readFileSync(files.roles));
  contents.set(path.join('policies', 'alert-rules.json'), fs.readFileSync(files.alertRules));

  const hash = createHash('sha256');
  for (const [rel, content] of [...contents].sort(([a], [b]) => a.localeCompare(b))) hash.update(rel).update(content);
  const dir = path.join(os.tmpdir(), `tem-build-context-${hash.digest('hex').slice(0, 16)}`);
  if (fs.existsSync(dir)) return dir;

  const staging = fs.mkdtempSync(`${dir}.`);
  for (const [rel, content] of contents) {
    fs.mkdirSync(path.dirname(path.join(staging, rel)), { recursive: true });
    fs.writeFileSync(path.join(staging, rel), content);
  }
  const modules = path.join(repoRoot, 'node_modules');
  if (fs.existsSync(modules)) fs.symlinkSync(modules, path.join(staging, 'node_modules'), 'dir');
  try {
    fs.renameSync(staging, dir);
  } catch {
    // Another synth put the same tree there first.
    fs.rmSync(staging, { recursive: true, force: true });
  }
  return dir;
}

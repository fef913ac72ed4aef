import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { LocalStackInfo } from '../../infra/local/stack';
import { CliError } from './output';

export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.TEM_STATE_DIR ?? path.join(process.cwd(), '.tem'));
}

export function readLocalState(env: NodeJS.ProcessEnv = process.env): LocalStackInfo {
  const file = env.TEM_LOCAL_STATE ?? path.join(stateDir(env), 'local.json');
  if (!existsSync(file)) throw new CliError(`No local stack found (${file} is missing): run \`npm start\` first`);
  return JSON.parse(readFileSync(file, 'utf8')) as LocalStackInfo;
}

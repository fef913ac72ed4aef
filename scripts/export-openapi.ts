/**
 * Writes docs/openapi.json, the OpenAPI 3.1 document GET /openapi.json serves, generated from the topology's routes
 * and the zod schemas (infra/api/openapi.ts). Run after changing a route or a schema: `npx tsx
 * scripts/export-openapi.ts` (`npm run openapi`). test/unit/openapi-doc.test.ts fails while the committed file's
 * content differs from what this renders.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildOpenApiDocument } from '../infra/api/openapi';

export const OPENAPI_FILE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'openapi.json');
export const OPENAPI_REGENERATE = 'npx tsx scripts/export-openapi.ts';

/** The file's content (before formatting: the committed file is formatted by Biome). */
export const renderOpenApi = (): string => `${JSON.stringify(buildOpenApiDocument(), null, 2)}\n`;

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  writeFileSync(OPENAPI_FILE, renderOpenApi());
  // Formatted as the rest of the repository, so `npm run lint` stays clean (the test compares content, not layout).
  const biome = spawnSync('npx', ['biome', 'format', '--write', OPENAPI_FILE], { stdio: 'inherit' });
  if (biome.status !== 0) process.exit(biome.status ?? 1);
  console.log(`wrote ${path.relative(process.cwd(), OPENAPI_FILE)}`);
}

import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { lambdaHandler } from '../../functions/meta/openapi';
import { buildOpenApiDocument } from '../../infra/api/openapi';
import { OPENAPI_FILE, OPENAPI_REGENERATE, renderOpenApi } from '../../scripts/export-openapi';

describe('docs/openapi.json', () => {
  it('is what scripts/export-openapi.ts renders today', () => {
    // Fails when a route, a function description or a zod schema changed without regenerating the file. Compared as
    // values, so the failure shows what changed; the layout is Biome's.
    expect(
      JSON.parse(readFileSync(OPENAPI_FILE, 'utf8')),
      `docs/openapi.json is stale: regenerate it with \`${OPENAPI_REGENERATE}\` (npm run openapi) and commit it`,
    ).toEqual(JSON.parse(renderOpenApi()));
  });
});

describe('GET /openapi.json (functions/meta/openapi.ts)', () => {
  it('answers the document, as JSON, cacheable', async () => {
    const answer = await lambdaHandler();
    expect(answer.statusCode).toBe(200);
    expect(answer.headers).toEqual({ 'content-type': 'application/json', 'cache-control': 'public, max-age=300' });
    expect(JSON.parse(answer.body)).toEqual(buildOpenApiDocument());
  });
});

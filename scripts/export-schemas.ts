/**
 * Writes the JSON Schemas of the ingestion contract to docs/schemas/, generated from the zod schemas the functions
 * validate with. Run after changing a schema: `npx tsx scripts/export-schemas.ts`. A unit test
 * (test/unit/schemas.test.ts) fails while the committed files' content differs from what this renders.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { EventEnvelopeSchema, EventInputSchema } from '../shared/domain/events';
import { IngestRequestSchema } from '../shared/domain/ingest';
import { TelemetryPayloadSchema } from '../shared/domain/telemetry';

export const SCHEMA_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'docs', 'schemas');

const schemas = {
  'event-input.schema.json': {
    schema: EventInputSchema,
    io: 'input',
    title: 'TelemetryEventMesh event (what a producer sends)',
  },
  'ingest-request.schema.json': {
    schema: IngestRequestSchema,
    io: 'input',
    title: 'POST /events body (application/json): one event, or {"events": [...]} with 1 to 500 events',
  },
  'event-envelope.schema.json': {
    schema: EventEnvelopeSchema,
    io: 'output',
    title: 'TelemetryEventMesh event envelope (on the stream, in the table, from GET /events/{id})',
  },
  'telemetry.schema.json': {
    schema: TelemetryPayloadSchema,
    io: 'input',
    title: 'Device telemetry published on devices/<deviceId>/telemetry',
  },
} as const;

/** File name -> file content (before formatting: the committed files are formatted by Biome). */
export function renderSchemas(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(schemas).map(([file, { schema, io, title }]) => {
      const json = z.toJSONSchema(schema, { io, target: 'draft-2020-12' });
      const withTitle = { $schema: json.$schema, title, ...json };
      return [file, `${JSON.stringify(withTitle, null, 2)}\n`];
    }),
  );
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const written = Object.entries(renderSchemas()).map(([file, content]) => {
    const target = path.join(SCHEMA_DIR, file);
    writeFileSync(target, content);
    return target;
  });
  // Formatted as the rest of the repository, so `npm run lint` stays clean (the test compares content, not layout).
  const biome = spawnSync('npx', ['biome', 'format', '--write', ...written], { stdio: 'inherit' });
  if (biome.status !== 0) process.exit(biome.status ?? 1);
  for (const target of written) console.log(`wrote ${path.relative(process.cwd(), target)}`);
}

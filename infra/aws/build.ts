/** `eventsTable` -> `EventsTable`: construct ids from topology names. */
export const pascal = (name: string): string => name.charAt(0).toUpperCase() + name.slice(1);

/** `rawArchive` -> `raw_archive`: Glue and Athena names (lowercase letters, digits and `_`) from topology names. */
export const glueName = (name: string): string =>
  name
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_');

/** Builds one construct per entry of a topology record, keeping the record's keys. */
export function build<K extends string, S, R>(
  specs: Readonly<Record<K, S>>,
  make: (name: K, spec: S) => R,
): Record<K, R> {
  const out = {} as Record<K, R>;
  for (const [name, spec] of Object.entries(specs) as [K, S][]) out[name] = make(name, spec);
  return out;
}

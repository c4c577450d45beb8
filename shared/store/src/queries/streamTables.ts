/** The tables the sink fills from stream topics: the only names its queries may place in SQL text. */
export const STREAM_TABLES = ['requests', 'rate_limit_events', 'detections'] as const;
export type StreamTable = (typeof STREAM_TABLES)[number];

/** Refuses any other table name, so a name can never come from input into the SQL. */
export function assertStreamTable(table: string): asserts table is StreamTable {
  if (!(STREAM_TABLES as readonly string[]).includes(table)) throw new Error(`${JSON.stringify(table)} is not a stream table (${STREAM_TABLES.join(', ')})`);
}

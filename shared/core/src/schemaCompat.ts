/**
 * Full compatibility between two versions of the wire contract: each new schema must read
 * what the released one wrote (backward: consumers upgrade first) and the released one
 * must read what the new one writes (forward: producers upgrade first).
 */
import type avro from 'avsc';
import { loadTypes, readSchema, SCHEMA_NAMES } from './schemas.ts';

export interface CompatProblem {
  schema: string;
  direction: 'backward' | 'forward';
  message: string;
}

function tryResolve(reader: avro.Type, writer: avro.Type): string | null {
  try {
    reader.createResolver(writer);
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/** Compares two ordered lists of [name, schema]; returns every problem found (empty: compatible). */
export function compareSchemas(released: Array<[string, avro.Schema]>, current: Array<[string, avro.Schema]>): CompatProblem[] {
  const oldTypes = loadTypes(released);
  const newTypes = loadTypes(current);
  const problems: CompatProblem[] = [];
  for (const [name, oldType] of oldTypes) {
    const newType = newTypes.get(name);
    if (!newType) {
      problems.push({ schema: name, direction: 'backward', message: 'the schema was removed' });
      continue;
    }
    const back = tryResolve(newType, oldType);
    if (back) problems.push({ schema: name, direction: 'backward', message: back });
    const fwd = tryResolve(oldType, newType);
    if (fwd) problems.push({ schema: name, direction: 'forward', message: fwd });
  }
  return problems;
}

export function checkRepositorySchemas(): CompatProblem[] {
  const released = SCHEMA_NAMES.map((n): [string, avro.Schema] => [n, readSchema(`released/${n}`)]);
  const current = SCHEMA_NAMES.map((n): [string, avro.Schema] => [n, readSchema(n)]);
  return compareSchemas(released, current);
}


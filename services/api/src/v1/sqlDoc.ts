/**
 * The SQL part of the OpenAPI document (openapi.ts): POST /sql, an analyst's read-only query,
 * and its schemas, closed like the rest. The fields, formats and the query's length come from
 * the route (sql/routes.ts) and the store (MAX_SQL_LENGTH).
 */
import { MAX_SQL_LENGTH } from '@ipwatch/store';
import { SQL_FORMATS } from '../sql/routes.ts';
import { type HttpMethod, type JsonObject, type Operation, ref, text, count, list, described, object, responses, jsonBody } from './schemaKit.ts';

export const sqlSchemas: { [name: string]: JsonObject } = {
  SqlRequest: object(
    {
      query: described({ type: 'string', minLength: 1, maxLength: MAX_SQL_LENGTH }, 'one read-only statement (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN), without a FORMAT clause; the tables are described in docs/TABLES.md'),
      format: described({ type: 'string', enum: [...SQL_FORMATS], default: 'json' }, 'json: the answer below; csv: a header row of the column names, then one line per row'),
    },
    ['format'],
  ),
  SqlColumn: object({ name: text, type: described(text, 'the ClickHouse type, e.g. UInt64, LowCardinality(String), DateTime64(3, \'UTC\')') }),
  SqlLimits: object({
    maxRowsRead: described(count, 'IPWATCH_SQL_MAX_ROWS_READ'),
    maxResultRows: described(count, 'IPWATCH_SQL_MAX_RESULT_ROWS'),
    maxResultBytes: described(count, 'IPWATCH_SQL_MAX_RESULT_BYTES'),
    maxSeconds: described(count, 'IPWATCH_SQL_MAX_SECONDS'),
    maxMemoryMb: described(count, 'IPWATCH_SQL_MAX_MEMORY_MB'),
  }),
  SqlAnswer: object({
    columns: list(ref('SqlColumn'), { description: 'in the order of each row\'s cells' }),
    rows: list(list({}), { description: 'one array per row; 64-bit integers as strings (JSON numbers cannot hold them exactly), times as ClickHouse writes them (UTC)' }),
    rowsRead: described(count, 'rows ClickHouse read to answer'),
    bytesRead: described(count, 'bytes ClickHouse read to answer'),
    elapsedMs: described(count, 'how long ClickHouse took'),
    auditId: described(text, 'the audit log\'s id of this query (GET /privacy/audit?action=query lists them)'),
    limits: described(ref('SqlLimits'), 'the guards the query ran under'),
  }),
};

export const sqlPaths: { [path: string]: { [method in HttpMethod]?: Operation } } = {
  '/sql': {
    post: {
      operationId: 'sql',
      summary: 'Run one read-only SQL query against the store, under ClickHouse\'s guards (readonly=1, rows read, result size, time, memory); recorded in the audit log with its text',
      tags: ['sql'],
      requestBody: jsonBody(ref('SqlRequest'), 'the query; fields not listed here are refused, naming them'),
      responses: (() => {
        const r = responses({ 200: { description: 'the result (format csv: text/csv, an attachment named by the audit id)', schema: ref('SqlAnswer') } }, ['413', '415', '422', '503']);
        ((r['200'] as JsonObject).content as JsonObject)['text/csv'] = { schema: { type: 'string', description: 'a header row of the column names, then one line per row; a text cell starting with =, +, -, @, tab or CR is prefixed with \'' } };
        return r;
      })(),
    },
  },
};

/**
 * The component schemas of the OpenAPI document (openapi.ts): every answer and body of API v1,
 * closed (additionalProperties false) so an undocumented field fails
 * test/openapi.answers.chdb.test.ts, and the error responses by status. The schemas of traffic
 * (trafficComponents.ts) and of the lists and rules (listRuleComponents.ts) are assembled here,
 * in the document's order.
 */
import { ERRORS } from '@ipwatch/core/errors';
import { type JsonObject, ref, text, described, object, codesWithStatus, ERROR_RESPONSES } from './schemaKit.ts';
import { listSchemas, ruleSchemas } from './listRuleComponents.ts';
import { requestSchemas, trafficSchemas } from './trafficComponents.ts';

export { SEVERITY } from './listRuleComponents.ts';

// ---- component schemas ---------------------------------------------------------------

// The order of the keys is the order of the served document's schemas: kept as it was.
export const schemas: { [name: string]: JsonObject } = {
  Error: {
    ...object({ error: described(text, 'what was wrong and what to do, for a person'), code: { type: 'string', enum: Object.keys(ERRORS), description: 'the errors registry\'s code (README "Errors")' } }),
    description: 'Every refusal and failure answers this.',
  },
  Status: {
    type: 'object',
    required: ['ok'],
    additionalProperties: true,
    properties: { ok: { const: true }, mode: { type: 'object', description: 'the event log and analytics engines this api runs on', additionalProperties: true } },
  },
  ...requestSchemas,
  ...listSchemas,
  ...trafficSchemas,
  ...ruleSchemas,
  OpenApi: {
    type: 'object',
    required: ['openapi', 'info', 'paths', 'components'],
    properties: { openapi: { const: '3.1.0' }, info: { type: 'object' }, paths: { type: 'object' }, components: { type: 'object' } },
    description: 'this document',
  },
};

export const errorComponents: JsonObject = {};
for (const [status, { name, description }] of Object.entries(ERROR_RESPONSES)) {
  const response: JsonObject = {
    description,
    content: { 'application/json': { schema: { type: 'object', allOf: [ref('Error')], properties: { code: { enum: codesWithStatus(Number(status)) } } } } },
  };
  if (status === '401') response.headers = { 'WWW-Authenticate': { schema: { const: 'Bearer' } } };
  if (status === '429') response.headers = { 'Retry-After': { description: 'seconds to wait', schema: { type: 'string', pattern: '^\\d+$' } } };
  errorComponents[name] = response;
}

import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ERRORS, errorsTable, exitCodeOf, IpwatchError, isErrorCode, statusOf, type ErrorCode } from './errors.ts';
import { ConfigError } from './config.ts';
import { AllowTooWideError, BlockTooWideError, DecisionInputError } from './blockTarget.ts';
import { InvalidAddressError } from './ip.ts';
import { DecodeError } from './schemas.ts';
import { SharedListsEntryError } from './sharedLists/entry.ts';
import { PortInUseError } from './observability/server.ts';
import { EmitterOptionError, NoEventLogError, PluginRegisteredTwiceError } from '../../emitter/src/errors.ts';
import { FilterError } from '../../store/src/queries/requestFilter.ts';
import { GeoConfigError } from '../../../services/enricher/src/geo/online.ts';
import { AsnDataError } from '../../../services/enricher/src/geo/asnTable.ts';
import { RowError } from '../../../services/sink/src/tables.ts';
import { NotListedError } from '../../../services/api/src/listChanges.ts';
import { UnknownParameterError } from '../../../services/api/src/queryParameters.ts';
import { UsageError } from '../../../services/cli/src/output.ts';
import { ApiError, ApiUnreachable } from '../../../services/cli/src/apiClient.ts';

const README = new URL('../../../README.md', import.meta.url);

/** Every error class a user or operator can see, with the code it must carry. */
const CLASSES: Array<[Error & { code?: unknown }, ErrorCode]> = [
  [new ConfigError(['IPWATCH_API_PORT="x" is not a whole number']), 'IPWATCH_CONFIG_INVALID'],
  [new DecisionInputError('x'), 'IPWATCH_BAD_DECISION'],
  [new InvalidAddressError('x'), 'IPWATCH_INVALID_ADDRESS'],
  [new DecodeError('x'), 'IPWATCH_MALFORMED_EVENT'],
  [new SharedListsEntryError('x'), 'IPWATCH_SHARED_LISTS_BAD_ENTRY'],
  [new PortInUseError('x'), 'IPWATCH_PORT_IN_USE'],
  [new EmitterOptionError('x'), 'IPWATCH_BAD_OPTION'],
  [new NoEventLogError('x'), 'IPWATCH_NO_EVENT_LOG'],
  [new PluginRegisteredTwiceError('x'), 'IPWATCH_PLUGIN_REGISTERED_TWICE'],
  [new FilterError('x'), 'IPWATCH_BAD_FILTER'],
  [new GeoConfigError('x'), 'IPWATCH_GEO_PROVIDER_INVALID'],
  [new AsnDataError('x'), 'IPWATCH_ASN_DATA_INVALID'],
  [new RowError('x'), 'IPWATCH_UNSTORABLE_EVENT'],
  [new NotListedError('x'), 'IPWATCH_NOT_LISTED'],
  [new BlockTooWideError('x'), 'IPWATCH_BLOCK_TOO_WIDE'],
  [new AllowTooWideError('x'), 'IPWATCH_ALLOW_TOO_WIDE'],
  [new UnknownParameterError('x'), 'IPWATCH_UNKNOWN_PARAMETER'],
  [new UsageError('x'), 'IPWATCH_USAGE'],
  [new ApiUnreachable('x'), 'IPWATCH_API_UNREACHABLE'],
  [new ApiError('x'), 'IPWATCH_API_REFUSED'],
  [new ApiError('x', 'IPWATCH_NOT_LISTED'), 'IPWATCH_NOT_LISTED'],
];

/** The rows of the README's "Errors" table, by code. */
function readmeRows(): Map<string, string> {
  const text = readFileSync(README, 'utf8');
  const start = text.indexOf('\n## Errors\n');
  assert.ok(start >= 0, 'README.md has a "## Errors" section');
  const end = text.indexOf('\n## ', start + 1);
  const rows = new Map<string, string>();
  for (const line of text.slice(start, end === -1 ? undefined : end).split('\n')) {
    const code = /^\| `(IPWATCH_[A-Z0-9_]+)` \|/.exec(line)?.[1];
    if (code === undefined) continue;
    assert.ok(!rows.has(code), `${code} appears twice in the README's table`);
    rows.set(code, line);
  }
  return rows;
}

test('codes are unique, IPWATCH_ and upper case, each with a status, an exit code and both texts', () => {
  // Object keys cannot repeat at run time, so count them in the source, where a copy-paste would show.
  const source = readFileSync(new URL('./errors.ts', import.meta.url), 'utf8');
  const declared = [...source.matchAll(/^ {2}(IPWATCH_[A-Z0-9_]+): \{$/gm)].map((m) => m[1]);
  assert.deepEqual([...new Set(declared)], declared, 'a code is declared twice');
  assert.deepEqual(declared, Object.keys(ERRORS));
  for (const [code, spec] of Object.entries(ERRORS)) {
    assert.match(code, /^IPWATCH_[A-Z0-9]+(_[A-Z0-9]+)*$/);
    assert.ok(Number.isInteger(spec.status) && spec.status >= 400 && spec.status <= 599, `${code}: status ${spec.status}`);
    assert.ok(spec.exit === 1 || spec.exit === 2, `${code}: exit ${spec.exit}`);
    assert.ok(spec.meaning.length > 10 && spec.action.length > 10, `${code}: says what it means and what to do`);
  }
});

test("each error class carries a code the registry holds, and the one it is meant to", () => {
  for (const [err, code] of CLASSES) {
    assert.ok(err instanceof Error, err.name);
    assert.ok(isErrorCode(err.code), `${err.name}: ${String(err.code)} is not in ERRORS`);
    assert.equal(err.code, code, err.name);
  }
});

test('statusOf and exitCodeOf: the registry for ours, 500 and 1 for anything else', () => {
  const refused = new IpwatchError('IPWATCH_NOT_LISTED', '203.0.113.7 is not blocked');
  assert.equal(statusOf(refused), 404);
  assert.equal(exitCodeOf(refused), 2);
  for (const other of [new Error('ClickHouse: Code 60, SELECT ...'), 'a string', undefined]) {
    assert.equal(statusOf(other), 500);
    assert.equal(exitCodeOf(other), 1);
  }
  assert.equal(isErrorCode('IPWATCH_NOT_LISTED'), true);
  assert.equal(isErrorCode('toString'), false, 'only own keys are codes');
  assert.equal(isErrorCode(42), false);
});

test("the README's Errors table lists every code and no other, as the registry says", () => {
  const rows = readmeRows();
  const hint = `\nThe table, from errorsTable():\n\n${errorsTable()}\n`;
  const missing = Object.keys(ERRORS).filter((code) => !rows.has(code));
  assert.deepEqual(missing, [], `codes missing from the README's table${hint}`);
  const unknown = [...rows.keys()].filter((code) => !isErrorCode(code));
  assert.deepEqual(unknown, [], `the README's table has codes the registry lacks${hint}`);
  const expected = new Map(errorsTable().split('\n').slice(2).map((line) => [/`(IPWATCH_\w+)`/.exec(line)![1]!, line]));
  for (const [code, line] of rows) assert.equal(line, expected.get(code), `${code}'s row differs from the registry${hint}`);
});

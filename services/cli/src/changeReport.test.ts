import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import { describeChanges } from './changeReport.ts';

const now = Date.parse('2026-12-01T09:00:00Z');

test('each changed field is a line: what it was, what it becomes', () => {
  assert.deepEqual(
    describeChanges(
      [
        { field: 'expiresAt', was: null, becomes: Date.parse('2026-12-01T10:00:00Z') },
        { field: 'reason', was: 'credential stuffing', becomes: '' },
        { field: 'severity', was: 'high', becomes: 'medium' },
      ],
      now,
    ),
    ['expiry: was never, becomes 2026-12-01 10:00 UTC (in 1h 0m)', 'reason: was "credential stuffing", becomes (none)', 'severity: was "high", becomes "medium"'],
  );
  assert.deepEqual(describeChanges([{ field: 'expiresAt', was: Date.parse('2026-12-01T08:00:00Z'), becomes: null }], now), ['expiry: was 2026-12-01 08:00 UTC (expired), becomes never']);
});

test('nothing changed says so; text from the api is made printable', () => {
  assert.deepEqual(describeChanges([], now), ['nothing changed but who made it and when']);
  assert.deepEqual(describeChanges([{ field: 'reason', was: 'a\u001b[31m', becomes: 'b' }], now), ['reason: was "a\uFFFD[31m", becomes "b"']);
});

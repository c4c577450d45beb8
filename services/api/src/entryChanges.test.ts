import { test } from '@jest/globals';
import assert from 'node:assert/strict';
import type { AllowEntry, BlockDecision } from '@ipwatch/core/schemas';
import { entryChanges } from './entryChanges.ts';

const block: BlockDecision = { target: '203.0.113.7', reason: 'scanner', source: 'manual', severity: 'medium', createdAt: 1, expiresAt: null, createdBy: 'ops' };

test('a new entry changes nothing; an identical one only who and when', () => {
  assert.deepEqual(entryChanges(undefined, block), []);
  assert.deepEqual(entryChanges(block, { ...block, createdAt: 2, createdBy: 'local' }), []);
});

test('a replacement reports each field it changes, as it was and as it becomes', () => {
  assert.deepEqual(entryChanges(block, { ...block, expiresAt: 3_600_000, reason: '' }), [
    { field: 'expiresAt', was: null, becomes: 3_600_000 },
    { field: 'reason', was: 'scanner', becomes: '' },
  ]);
  assert.deepEqual(entryChanges({ ...block, expiresAt: 5 }, { ...block, expiresAt: null, severity: 'high', source: 'import' }), [
    { field: 'expiresAt', was: 5, becomes: null },
    { field: 'severity', was: 'medium', becomes: 'high' },
    { field: 'source', was: 'manual', becomes: 'import' },
  ]);
});

test('allowlist entries have no severity or source to report', () => {
  const entry: AllowEntry = { target: '10.0.0.0/8', reason: 'office', createdAt: 1, expiresAt: null, createdBy: 'ops' };
  assert.deepEqual(entryChanges(entry, { ...entry, expiresAt: 9 }), [{ field: 'expiresAt', was: null, becomes: 9 }]);
});

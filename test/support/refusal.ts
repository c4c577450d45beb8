/** How the api's tests check a refusal: {error, code}, with the status the registry gives that code. */
import assert from 'node:assert/strict';
import { ERRORS } from '@ipwatch/core/errors';

export interface ApiAnswer {
  status: number;
  body: { error?: string; code?: string };
}

/** The answer is a refusal with `code`, its registry status and a message (matching `message` when given). */
export function assertRefused(answer: ApiAnswer, code: keyof typeof ERRORS, message?: RegExp): void {
  assert.equal(answer.body.code, code, JSON.stringify(answer.body));
  assert.equal(answer.status, ERRORS[code].status);
  assert.ok(answer.body.error, 'a message for the user');
  if (message) assert.match(answer.body.error, message);
}

/**
 * node:test's `t.after` for jest: clean-ups that run when the current test ends, passed or
 * failed, the last registered first, before the next test starts.
 *
 * @example
 * const server = createServer().listen(0);
 * afterThisTest(() => server.close());
 */
import { afterEach } from '@jest/globals';

const pending: Array<() => unknown> = [];

afterEach(async () => {
  const errors: unknown[] = [];
  for (const cleanUp of pending.splice(0).reverse()) {
    try {
      await cleanUp();
    } catch (err) {
      errors.push(err); // one failing clean-up must not skip the others
    }
  }
  if (errors.length) throw errors[0];
});

export function afterThisTest(cleanUp: () => unknown): void {
  pending.push(cleanUp);
}

/**
 * jest's node environment, with the two places where its sandbox (its own realm, its own
 * `process` object) differs from node's runner in what the tests check:
 * - `process`: the real one, so `process.on('warning')` hears process.emitWarning and
 *   listeners, exit codes and env are the process's own (one test file per worker).
 * - `Response#json()`: parses with the sandbox's JSON, so `assert.deepEqual` (strict, which
 *   compares prototypes) sees the sandbox's Object, as with JSON.parse in the test.
 */
const { TestEnvironment } = require('jest-environment-node');

class IpwatchEnvironment extends TestEnvironment {
  constructor(config, context) {
    super(config, context);
    const sandboxJson = this.global.JSON;
    this.global.process = process;
    Response.prototype.json = async function json() {
      return sandboxJson.parse(await this.text());
    };
  }
}

module.exports = IpwatchEnvironment;

/**
 * Prints the run's plain closing line that CI reads, `tests: N passed, N failed`, after
 * jest's own summary. Failed counts tests and also files that failed without running one
 * (a syntax error, a crashed worker, a failing global hook).
 */
import { writeSync } from 'node:fs';

export default class ClosingLineReporter {
  onRunComplete(_contexts, results) {
    const failed = results.numFailedTests + results.numRuntimeErrorTestSuites + (results.wasInterrupted ? 1 : 0);
    // On exit, not now: jest still prints after the reporters (the forceExit notice), and then
    // stubs out process.stdout.write, hence the file descriptor.
    process.once('exit', () => writeSync(1, `tests: ${results.numPassedTests} passed, ${failed} failed\n`));
  }
}

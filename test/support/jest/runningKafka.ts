/** Where the global setup leaves the broker for the global teardown (both run in jest's main process). */
export const RUNNING_KAFKA = Symbol.for('ipwatch.test.runningKafka');

/**
 * The test suite under jest (npm test). Test files say in their names what they need:
 * `.kafka.` the broker that kafka.globalSetup.js starts once for the run, `.redis.` Redis
 * (127.0.0.1:6379, ensured, or redis-servers of their own), `.chdb.` chDB; none, a unit test.
 */
const SKIP = ['/node_modules/', '/dist/'];

const project = {
  testEnvironment: '<rootDir>/test/support/jest/environment.cjs',
  // The packages' exports point at their TypeScript sources under this condition.
  testEnvironmentOptions: { customExportConditions: ['ipwatch-source', 'node', 'node-addons'] },
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022', keepClassNames: true } }],
  },
  roots: ['<rootDir>/shared', '<rootDir>/services', '<rootDir>/test'],
};

/** Files whose names say they need nothing: `npm run test:unit` (jest.unit.config.js). */
export const unitProject = { ...project, displayName: 'unit', testRegex: '\\.test\\.ts$', testPathIgnorePatterns: [...SKIP, '\\.(kafka|redis|chdb)\\.[^/]*$'] };

export default {
  projects: [
    unitProject,
    {
      ...project,
      displayName: 'redis+chdb',
      testRegex: '\\.(redis|chdb)\\.[^/]*test\\.ts$',
      testPathIgnorePatterns: [...SKIP, '\\.kafka\\.[^/]*$'],
      globalSetup: '<rootDir>/test/support/jest/redis.globalSetup.js',
    },
    {
      ...project,
      displayName: 'kafka',
      testRegex: '\\.kafka\\.[^/]*test\\.ts$',
      testPathIgnorePatterns: SKIP,
      globalSetup: '<rootDir>/test/support/jest/kafka.globalSetup.js',
      globalTeardown: '<rootDir>/test/support/jest/kafka.globalTeardown.js',
    },
  ],
  // One file at a time, as node --test --test-concurrency=1 did: the integration files share
  // the broker and the 2 cores, and several check timings. A fresh worker per file (the idle
  // limit is below any worker's size) keeps chDB to one engine per process, as it requires.
  maxWorkers: 1,
  workerIdleMemoryLimit: '1MB',
  // A guard against a hang, not a speed target; slower tests set their own.
  testTimeout: 120_000,
  // A file that fails before its clean-up leaves sockets and consumers open: report, do not hang.
  forceExit: true,
  reporters: ['default', '<rootDir>/test/support/jest/closingLine.reporter.js'],
};

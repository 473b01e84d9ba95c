/**
 * `npm run test:failover`: only the pg_auto_failover test, which builds its own formation; none of the
 * suite's template databases.
 */
const base = require('./jest.config.js');

module.exports = {
  ...base,
  roots: ['<rootDir>/test'],
  testMatch: ['**/test/*.failover.ts'],
  globalSetup: undefined,
  globalTeardown: undefined,
  testTimeout: 900_000,
  maxWorkers: 1,
};

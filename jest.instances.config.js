/**
 * `npm run test:instances`: three API server processes on one database under the chaos workload
 * (test/three-instances.instances.ts); the suite's template database, none of its other tests.
 */
const base = require('./jest.config.js');

module.exports = {
  ...base,
  testMatch: ['**/test/*.instances.ts'],
  testTimeout: 600_000,
  maxWorkers: 1,
};

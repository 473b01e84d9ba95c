/**
 * `npm run test:routability`: the README walk-throughs and a tour of postings, reads and reconciliation on a
 * scratch cluster with pg_stat_statements, then every statement on a tenant table checked for its root
 * (test/statements.routability.ts, docs/citus-routing.md).
 */
const base = require('./jest.config.js');

module.exports = {
  ...base,
  roots: ['<rootDir>/test'],
  testMatch: ['**/test/*.routability.ts'],
  globalSetup: '<rootDir>/test/support/routability-setup.ts',
  globalTeardown: '<rootDir>/test/support/routability-teardown.ts',
  testTimeout: 180_000,
  maxWorkers: 1,
};

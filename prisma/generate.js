#!/usr/bin/env node
// Runs `prisma generate` offline. The Prisma CLI insists on locating its native schema engine before any
// command, and would download it; `generate` never executes that binary, so any existing file will do.
// (`prisma migrate` does need the engine: migrations here are applied by src/platform/migrations.ts.)
const { execFileSync } = require('node:child_process');
const path = require('node:path');

const env = { ...process.env, PRISMA_HIDE_UPDATE_MESSAGE: '1', CHECKPOINT_DISABLE: '1' };
if (!env.PRISMA_SCHEMA_ENGINE_BINARY) env.PRISMA_SCHEMA_ENGINE_BINARY = process.execPath;

const cli = require.resolve('prisma/build/index.js');
execFileSync(process.execPath, [cli, 'generate', '--schema', path.join(__dirname, 'schema.prisma')], {
  stdio: 'inherit',
  env,
});

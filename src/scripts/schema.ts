import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buildLedgerSchema, printLedgerSchema } from '../schema.js';

/** `emit` writes schema.graphql from the code; `check` fails when the committed file is stale. */
const SCHEMA_FILE = path.resolve(__dirname, '../../schema.graphql');

async function run(mode: string | undefined): Promise<void> {
  const printed = printLedgerSchema(await buildLedgerSchema());
  if (mode === 'emit') {
    await writeFile(SCHEMA_FILE, printed);
    process.stdout.write(`wrote ${SCHEMA_FILE}\n`);
    return;
  }
  if (mode === 'check') {
    const committed = await readFile(SCHEMA_FILE, 'utf8').catch(() => '');
    if (committed !== printed) {
      process.stderr.write('schema.graphql is stale: run `npm run schema:emit` and commit the result\n');
      process.exit(1);
    }
    process.stdout.write('schema.graphql is current\n');
    return;
  }
  process.stderr.write('usage: schema (emit|check)\n');
  process.exit(2);
}

void run(process.argv[2]);

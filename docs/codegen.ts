// GraphQL Code Generator (v6) for a Reward Ledger client. In your app:
//   npm install -D @graphql-codegen/cli @graphql-codegen/typescript @graphql-codegen/typescript-operations
// copy this file as codegen.ts and run `npx graphql-codegen`. test/codegen.test.ts generates the README's
// operations with this very configuration and type-checks code using them with strict TypeScript.
import type { CodegenConfig } from '@graphql-codegen/cli';

// Every scalar is mapped, so with strictScalars none falls back to `unknown`.
const scalars = {
  // Minor units as a base-10 string ("12500" is 125.00 at scale 2); may be sent as a JSON integer up to
  // 2^53 - 1. Do arithmetic with BigInt(), never Number(): an amount may exceed what a double holds exactly.
  Amount: { input: 'string | number', output: 'string' },
  // An ISO-8601 instant in UTC, e.g. "2026-12-02T15:51:15.000Z".
  DateTime: { input: 'string', output: 'string' },
  // Metadata: a JSON object (never an array or a scalar) of at most 16 KiB.
  JSONObject: { input: 'Record<string, unknown>', output: 'Record<string, unknown>' },
};

export default {
  // The schema by introspection (on unless NODE_ENV=production), or a copy of the server's schema.graphql.
  schema: [{ 'http://localhost:4000/graphql': { headers: { Authorization: `Bearer ${process.env.LEDGER_API_KEY}` } } }],
  documents: ['src/**/*.graphql', 'src/**/*.{ts,tsx}'],
  generates: {
    // The types of your operations, their variables and the inputs and enums they use.
    'src/generated/ledger.ts': {
      plugins: ['typescript-operations'],
      config: { strictScalars: true, scalars, enumType: 'string-literal', useTypeImports: true },
    },
    // Every enum of the schema, ErrorCode among them (no field returns it: it types `extensions.code`).
    'src/generated/ledger-enums.ts': {
      plugins: ['typescript'],
      config: { onlyEnums: true, enumsAsTypes: true },
    },
  },
} satisfies CodegenConfig;

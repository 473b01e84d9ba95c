// Bundles the GraphiQL IDE (npm `graphiql`, React, graphql-ws client) into dist/public/graphiql with
// esbuild. Run by `npm run build`; offline, and skipped when its inputs have not changed. The output is
// generated (about 4 MB), so it is kept out of git like the rest of dist/.
'use strict';
const { createHash } = require('node:crypto');
const { existsSync, mkdirSync, readFileSync, writeFileSync } = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '../..');
const entry = path.join(__dirname, 'browser.jsx');
const outdir = path.join(root, 'dist/public/graphiql');
const stampFile = path.join(outdir, 'build-stamp');

function version(name) {
  return JSON.parse(readFileSync(require.resolve(`${name}/package.json`, { paths: [root] }), 'utf8')).version;
}

async function main() {
  const inputs = [
    readFileSync(entry, 'utf8'),
    readFileSync(__filename, 'utf8'),
    ...['graphiql', '@graphiql/toolkit', 'graphql', 'graphql-ws', 'react', 'react-dom', 'esbuild'].map(
      (name) => `${name}@${version(name)}`,
    ),
  ];
  const stamp = createHash('sha256').update(inputs.join('\n')).digest('hex');
  if (
    existsSync(stampFile) &&
    readFileSync(stampFile, 'utf8') === stamp &&
    existsSync(path.join(outdir, 'graphiql.js'))
  )
    return;

  const esbuild = require('esbuild');
  await esbuild.build({
    entryPoints: { graphiql: entry },
    outdir,
    bundle: true,
    minify: true,
    format: 'iife',
    platform: 'browser',
    target: ['es2020'],
    jsx: 'transform',
    loader: { '.woff': 'dataurl', '.woff2': 'dataurl', '.ttf': 'dataurl', '.svg': 'dataurl', '.png': 'dataurl' },
    define: { 'process.env.NODE_ENV': '"production"' },
    legalComments: 'linked',
    logLevel: 'warning',
  });
  mkdirSync(outdir, { recursive: true });
  writeFileSync(stampFile, stamp);
  process.stdout.write(`GraphiQL bundled into ${path.relative(root, outdir)}\n`);
}

main().catch((error) => {
  process.stderr.write(`GraphiQL bundle failed: ${error.stack ?? error}\n`);
  process.exit(1);
});

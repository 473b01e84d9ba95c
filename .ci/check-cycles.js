#!/usr/bin/env node
// Fails when the import graph of src/ breaks the layering ARCHITECTURE.md describes:
//   - a cycle between files (every .ts file a node);
//   - a cycle between modules below the GraphQL edge: each folder under src/ (ledgers, postings, ...) is
//     one node, made of its services, repositories, loaders, types, inputs and rules;
//   - a file below the edge importing one of the edge: the edge is every *.resolver.ts, the files
//     directly in src/ (app, context, schema, main), src/scripts/ and the WebSocket transport;
//   - platform/ importing a domain module: plumbing sits below the domains.
// The edge is left out of the module grain on purpose. The schema is a graph (Ledger.accounts,
// Account.ledger), so resolvers name each other's GraphQL types both ways; they sit above every module's
// services, and what must point one way is everything under them.
//
// It reads the TypeScript sources rather than dist/: the compiler drops imports used only as types, and a
// type-only cycle is still two modules that cannot be understood, moved or tested apart. No npm tool
// parses TypeScript 7 sources (they all load the `typescript` 5 JavaScript API), and import statements
// are regular enough for a scanner that skips comments and strings.
//
// Usage: node .ci/check-cycles.js [srcDir]. Prints every cycle with the imports that make it.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const srcDir = path.resolve(process.argv[2] ?? path.join(__dirname, '..', 'src'));
// Generated code and pure unit tests are not part of the module graph.
const skipped = (rel) => rel.startsWith('generated/') || rel.endsWith('.test.ts') || rel.endsWith('.d.ts');
// The bottom layer: it may import only itself (and generated code).
const PLATFORM = 'platform';
// The GraphQL and transport edge, above every module (see the top of this file).
const isEdge = (relFile) =>
  relFile.endsWith('.resolver.ts') || !relFile.includes('/') || relFile.startsWith('scripts/') || relFile === 'subscriptions/ws-server.ts';

function listFiles(dir) {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) return listFiles(full);
    return entry.name.endsWith('.ts') ? [full] : [];
  });
}

// Comments and template/string contents would otherwise hide or invent imports.
function stripComments(text) {
  return text.replace(/\/\*[\s\S]*?\*\//g, (match) => match.replace(/[^\n]/g, ' ')).replace(/(^|[^:'"`\\])\/\/.*$/gm, '$1');
}

const IMPORT_PATTERNS = [
  /^\s*(?:import|export)\b[^;'"`]*?\bfrom\s*['"]([^'"]+)['"]/gm, // import x from '...', export { x } from '...', import type ...
  /^\s*import\s*['"]([^'"]+)['"]/gm, // import '...' (side effects)
  /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g, // import('...')
  /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g, // require('...')
];

function importsOf(file) {
  const text = stripComments(fs.readFileSync(file, 'utf8'));
  const found = [];
  for (const pattern of IMPORT_PATTERNS) {
    for (const match of text.matchAll(pattern)) {
      const specifier = match[1];
      if (!specifier.startsWith('.')) continue;
      const line = text.slice(0, match.index).split('\n').length + (match[0].match(/^\s*/)[0].split('\n').length - 1);
      found.push({ specifier, line });
    }
  }
  return found;
}

function resolveImport(fromFile, specifier) {
  const base = path.resolve(path.dirname(fromFile), specifier);
  const candidates = [base.replace(/\.js$/, '.ts'), `${base}.ts`, path.join(base, 'index.ts'), base];
  return candidates.find((candidate) => candidate.endsWith('.ts') && fs.existsSync(candidate)) ?? null;
}

const rel = (file) => path.relative(srcDir, file).split(path.sep).join('/');
const moduleOf = (relFile) => (relFile.includes('/') ? relFile.split('/')[0] : relFile.replace(/\.ts$/, ''));

// Tarjan's strongly connected components; every component with more than one node holds a cycle.
function components(nodes, edges) {
  let index = 0;
  const stack = [];
  const state = new Map();
  const result = [];
  const visit = (node) => {
    state.set(node, { index, low: index, onStack: true });
    index += 1;
    stack.push(node);
    for (const next of edges.get(node) ?? []) {
      if (!state.has(next)) {
        visit(next);
        state.get(node).low = Math.min(state.get(node).low, state.get(next).low);
      } else if (state.get(next).onStack) {
        state.get(node).low = Math.min(state.get(node).low, state.get(next).index);
      }
    }
    if (state.get(node).low === state.get(node).index) {
      const component = [];
      let member;
      do {
        member = stack.pop();
        state.get(member).onStack = false;
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || (edges.get(node) ?? new Set()).has(node)) result.push(component.sort());
    }
  };
  for (const node of [...nodes].sort()) if (!state.has(node)) visit(node);
  return result;
}

// The shortest cycle through `start` inside one component, to name a concrete loop to break.
function shortestCycle(start, members, edges) {
  const inside = new Set(members);
  const previous = new Map([[start, null]]);
  const queue = [start];
  while (queue.length > 0) {
    const node = queue.shift();
    for (const next of [...(edges.get(node) ?? [])].sort()) {
      if (!inside.has(next)) continue;
      if (next === start) {
        const loop = [node];
        for (let step = previous.get(node); step !== null; step = previous.get(step)) loop.unshift(step);
        return [...loop, start];
      }
      if (!previous.has(next)) {
        previous.set(next, node);
        queue.push(next);
      }
    }
  }
  return [start];
}

const files = listFiles(srcDir).filter((file) => !skipped(rel(file)));
const fileEdges = new Map();
const moduleEdges = new Map();
// For each module edge, the file imports that make it, to say where to cut.
const witnesses = new Map();
const layering = [];
for (const file of files) {
  const from = rel(file);
  const targets = new Set();
  for (const { specifier, line } of importsOf(file)) {
    const target = resolveImport(file, specifier);
    if (target === null) continue;
    const to = rel(target);
    if (skipped(to)) continue;
    targets.add(to);
    if (isEdge(from)) continue;
    if (isEdge(to)) layering.push(`src/${from}:${line} imports src/${to}, which is above it (the GraphQL edge)`);
    const [fromModule, toModule] = [moduleOf(from), moduleOf(to)];
    if (fromModule === toModule) continue;
    if (!moduleEdges.has(fromModule)) moduleEdges.set(fromModule, new Set());
    moduleEdges.get(fromModule).add(toModule);
    const key = `${fromModule}>${toModule}`;
    if (!witnesses.has(key)) witnesses.set(key, []);
    witnesses.get(key).push(`src/${from}:${line} imports src/${to}`);
    if (fromModule === PLATFORM) layering.push(`src/${from}:${line} imports src/${to}: platform imports no domain module`);
  }
  fileEdges.set(from, targets);
}

const moduleNodes = new Set(files.filter((file) => !isEdge(rel(file))).map((file) => moduleOf(rel(file))));
const moduleCycles = components(moduleNodes, moduleEdges);
const fileCycles = components(new Set(fileEdges.keys()), fileEdges);

for (const component of moduleCycles) {
  console.log(`module cycle: ${component.join(', ')}`);
  const loop = shortestCycle(component[0], component, moduleEdges);
  console.log(`  for example ${loop.join(' -> ')}`);
  for (const from of component) {
    for (const to of [...(moduleEdges.get(from) ?? [])].sort()) {
      if (!component.includes(to)) continue;
      console.log(`  ${from} -> ${to}:`);
      for (const witness of witnesses.get(`${from}>${to}`)) console.log(`    ${witness}`);
    }
  }
}
for (const component of fileCycles) {
  console.log(`file cycle: ${shortestCycle(component[0], component, fileEdges).map((file) => `src/${file}`).join(' -> ')}`);
  if (component.length > 2) console.log(`  (${component.length} files in this tangle: ${component.map((file) => `src/${file}`).join(', ')})`);
}
for (const violation of layering) console.log(`layering: ${violation}`);

const problems = moduleCycles.length + fileCycles.length + layering.length;
if (problems > 0) {
  console.log(`\n${moduleCycles.length} module cycle(s), ${fileCycles.length} file cycle(s), ${layering.length} layering violation(s)`);
  process.exit(1);
}
console.log(`import graph of ${files.length} files (${moduleNodes.size} modules below the GraphQL edge): no cycle, layering kept`);

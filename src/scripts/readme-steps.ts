/**
 * The README's loyalty walk-through as data: every `<!-- readme-step -->` marker is followed by a graphql
 * block and a json block of variables. `capture name=path` remembers a value of the answer for later
 * `$name` placeholders; `expect path=value` states one figure of it. Read by `npm run demo`, which runs
 * the steps against a server, and by test/readme.test.ts, which proves they run as printed.
 */
export interface ReadmeStep {
  directive: { verb: 'capture' | 'expect'; path: string; name: string; value: string } | null;
  query: string;
  variables: Record<string, unknown>;
}

/**
 * `marker` names the walk-through: `readme-step` (loyalty) by default, `recon-step` for "Reconcile with a
 * partner"; each walk-through's steps are only its own.
 */
export function readmeSteps(readme: string, marker = 'readme-step'): ReadmeStep[] {
  const pattern = new RegExp(
    `<!-- ${marker}:?([^>]*)-->\\s*\`\`\`graphql\\n([\\s\\S]*?)\`\`\`\\s*\`\`\`json\\n([\\s\\S]*?)\`\`\``,
    'g',
  );
  return [...readme.matchAll(pattern)].map((match) => ({
    directive: directiveOf(match[1]!.trim()),
    query: match[2]!,
    variables: JSON.parse(match[3]!) as Record<string, unknown>,
  }));
}

function directiveOf(text: string): ReadmeStep['directive'] {
  if (text === '') return null;
  const [verb, assignment = ''] = text.split(/\s+/, 2);
  const [left = '', right = ''] = assignment.split('=');
  if (verb === 'capture') return { verb, name: left, path: right, value: '' };
  if (verb === 'expect') return { verb, name: '', path: left, value: right };
  throw new Error(`unknown readme-step directive: ${text}`);
}

/** The value at a dotted path of an answer's data. */
export function at(data: unknown, dotted: string): unknown {
  return dotted.split('.').reduce<unknown>((value, key) => (value as Record<string, unknown> | undefined)?.[key], data);
}

/**
 * The variables with each `$name` replaced by what an earlier step captured; `$name.path` takes one field
 * of a captured object (a gift card's code and PIN come from one answer).
 */
export function substitute(value: unknown, captured: ReadonlyMap<string, unknown>): unknown {
  if (typeof value === 'string' && value.startsWith('$')) {
    const [name = '', ...path] = value.slice(1).split('.');
    if (!captured.has(name)) throw new Error(`README uses ${value} before any step captures it`);
    return path.length === 0 ? captured.get(name) : at(captured.get(name), path.join('.'));
  }
  if (Array.isArray(value)) return value.map((item) => substitute(item, captured));
  if (value && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, substitute(item, captured)]));
  return value;
}

/** The step's operation line, e.g. `mutation EarnPoints($input: IssueInput!) {`, to name it in output. */
export function operationLine(step: ReadmeStep): string {
  return step.query.split('\n')[0]!.replace(/\s*\{$/, '');
}

import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type { InvariantReport } from './db.js';
import type { MachineFacts } from './machine.js';
import type { ProfilePass } from './profile.js';
import { notMeasuredRow, type AllMedians, type Figures, type TargetRow } from '../scenarios/scenario.js';

/**
 * BENCHMARKS.md: the targets table, the figures behind it, the profile, and the machine. The notes
 * between the NOTES markers are written by people (what limits each unmet target) and survive
 * regeneration.
 */
export interface BenchResults {
  kind: 'bench' | 'bench:scale';
  facts: MachineFacts;
  options: Record<string, unknown>;
  features: Record<string, boolean>;
  durationSeconds: number;
  /** Every round's figures, by scenario id. */
  rounds: Record<string, Figures[]>;
  medians: AllMedians;
  notMeasured: Record<string, string>;
  targets: TargetRow[];
  profile: ProfilePass | null;
  invariants: InvariantReport[];
  details: Record<string, unknown[]>;
}

const NOTES_START = '<!-- NOTES:START (hand-written; kept when the file is regenerated) -->';
const NOTES_END = '<!-- NOTES:END -->';

function formatNumber(value: number | null | undefined, unit = ''): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '—';
  const abs = Math.abs(value);
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : 2;
  const text = value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
  return unit === '/s' ? `${text}/s` : unit ? `${text} ${unit}` : text;
}

function met(row: TargetRow): string {
  if (row.met === null) return row.value === null ? 'not measured' : '—';
  return row.met ? '**met**' : '**not met**';
}

export function keptNotes(file: string): string {
  if (!existsSync(file)) return '';
  const text = readFileSync(file, 'utf8');
  const start = text.indexOf(NOTES_START);
  const end = text.indexOf(NOTES_END);
  return start >= 0 && end > start ? text.slice(start + NOTES_START.length, end).trim() : '';
}

export function targetsTable(rows: TargetRow[]): string[] {
  const lines = [
    '| scenario | figure | measured | reference | ratio | target | met? |',
    '|---|---|---:|---|---:|---|---|',
  ];
  for (const row of rows) {
    const reference = row.reference ? `${row.reference}: ${formatNumber(row.referenceValue)}` : '';
    const ratio = row.ratio === null ? '' : `${row.ratio.toFixed(2)}×`;
    const note = row.note ? ` — ${row.note}` : '';
    lines.push(
      `| ${row.scenario} | ${row.figure}${note} | ${formatNumber(row.value, row.unit)} | ${reference} | ${ratio} | ${row.target} | ${met(row)} |`,
    );
  }
  return lines;
}

const FIGURE_ORDER = [
  'throughput',
  'tps',
  'requestsPerSecond',
  'p50Ms',
  'p90Ms',
  'p99Ms',
  'meanMs',
  'errors',
  'serverCores',
  'postgresCores',
  'driverCores',
  'machineCores',
];

function figuresTable(results: BenchResults, titles: Record<string, string>): string[] {
  const lines = ['| scenario | figure | median | per round |', '|---|---|---:|---|'];
  for (const [id, medians] of Object.entries(results.medians)) {
    const names = Object.keys(medians).sort((a, b) => {
      const ia = FIGURE_ORDER.indexOf(a);
      const ib = FIGURE_ORDER.indexOf(b);
      return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
    });
    for (const name of names) {
      const perRound = (results.rounds[id] ?? []).map((figures) => formatNumber(figures[name])).join(', ');
      lines.push(
        `| ${id} ${titles[id] ? `(${titles[id]})` : ''} | ${name} | ${formatNumber(medians[name])} | ${perRound} |`,
      );
    }
  }
  return lines;
}

function profileSection(profile: ProfilePass): string[] {
  const lines: string[] = [];
  lines.push(
    "Each job ran 1 s warm-up + 5 s measured against a throwaway cluster started from the same server binaries with the measured server's " +
      `settings plus \`pg_stat_statements\` (${Object.entries(profile.settings)
        .map(([k, v]) => `${k}=${v}`)
        .join(', ')}), ` +
      'the server under `node --cpu-prof` (which itself costs some throughput). Statements per request = all statements the ' +
      'benchmark database executed (BEGIN/COMMIT included) ÷ requests answered.',
    '',
    '| job | requests/s | p50 | p99 | SQL statements / request | DB executor ms / request | DB planning ms / request | WAL bytes / request | server CPU (cores) | Postgres CPU (cores) | driver CPU | machine busy (of ' +
      `${profile.results[0]?.cpu?.machineCoresTotal ?? '?'}) | backends active (avg) |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  );
  for (const result of profile.results) {
    lines.push(
      `| ${result.title} | ${formatNumber(result.throughput)} | ${formatNumber(result.p50Ms, 'ms')} | ${formatNumber(result.p99Ms, 'ms')} | ${formatNumber(result.statementsPerRequest)} | ` +
        `${formatNumber(result.execMsPerRequest)} | ${formatNumber(result.planMsPerRequest)} | ${formatNumber(result.walBytesPerRequest)} | ` +
        `${formatNumber(result.cpu?.serverCores)} | ${formatNumber(result.cpu?.postgresCores)} | ${formatNumber(result.cpu?.driverCores)} | ${formatNumber(result.cpu?.machineCores)} | ${formatNumber(result.activeBackends)} |`,
    );
  }
  for (const result of profile.results) {
    lines.push('', `#### ${result.title}`, '');
    lines.push(
      'Postgres statements (by total execution time):',
      '',
      '| calls/request | mean ms | share of DB time | statement |',
      '|---:|---:|---:|---|',
    );
    for (const statement of result.statements.slice(0, 8)) {
      lines.push(
        `| ${statement.callsPerRequest} | ${statement.meanMs} | ${statement.sharePercent}% | \`${statement.query.replace(/\|/g, '\\|').replace(/`/g, "'")}\` |`,
      );
    }
    lines.push(
      '',
      `Backend states while active: ${
        result.waits
          .slice(0, 6)
          .map((wait) => `${wait.wait} ${wait.percent}%`)
          .join(', ') || '—'
      }`,
    );
    if (result.serverProfile) {
      const p = result.serverProfile;
      lines.push(
        '',
        `Server CPU profile (V8 samples, wall clock): busy ${p.busyOfOneCorePercent}% of one core over ${p.windowMs} ms, of which ${p.socketWritesPercent}% inside socket writes ` +
          '(mostly time descheduled after waking the peer; compare the server CPU column, read from /proc). Self time of the rest by package: ' +
          p.byPackage
            .slice(0, 10)
            .map((share) => `${share.name} ${share.percent}%`)
            .join(', ') +
          '.',
        '',
        'Hottest functions (self time): ' +
          p.topFunctions
            .slice(0, 8)
            .map((share) => `\`${share.name}\` ${share.percent}%`)
            .join(', ') +
          '.',
      );
    }
  }
  return lines;
}

/** Settings as Postgres shows them; older result files stored some in 8 kB pages. */
function setting(value: string): string {
  const pages = /^(\d+) 8kB$/.exec(value);
  return pages ? `${(Number(pages[1]) * 8) / 1024}MB` : value.replace(/ /g, '');
}

function runHeader(results: BenchResults): string[] {
  const f = results.facts;
  const invariantsOk = results.invariants.every((report) => report.ok);
  return [
    `\`npm run ${results.kind}\` on ${f.at} (${results.durationSeconds.toFixed(0)} s end to end): ${f.cpus} × ${f.cpuModel}, ${f.memoryGiB} GiB, ${f.kernel}; ` +
      `Node ${f.node}; ${f.postgres.split(',')[0]}; ${f.pgbench ?? 'no pgbench'}; commit ${f.git.commit}${f.git.dirty ? ' (dirty)' : ''} on ${f.git.branch}; ` +
      `load average at start ${f.loadAverageAtStart.join(' ')}. Postgres settings: ${Object.entries(f.postgresSettings)
        .map(([k, v]) => `${k}=${setting(v)}`)
        .join(', ')}.`,
    '',
    `Figures are medians of ${results.options.rounds} runs of ${results.options.warmupSeconds} s warm-up + ${results.options.seconds} s measured each. ` +
      `Ledger integrity at the end: ${invariantsOk ? '**clean**' : '**VIOLATED**'} (${results.invariants.map((report, index) => `${index === 0 ? 'benchmark ledger' : 'profile cluster'}: ${report.counts.transactions.toLocaleString('en-US')} transactions, ${report.counts.entries.toLocaleString('en-US')} entries, ${report.counts.balanceRows.toLocaleString('en-US')} balance rows`).join('; ')}).`,
  ];
}

/** The whole document, from the latest `bench` run and the latest `bench:scale` run (either may be missing). */
export function renderMarkdown(
  runs: { bench: BenchResults | null; scale: BenchResults | null },
  titles: Record<string, string>,
  notes: string,
): string {
  const { bench, scale } = runs;
  const targets = [
    ...(bench?.targets ?? []),
    ...(scale?.targets ?? [
      notMeasuredRow(
        'S8',
        'S1, S6 and a history page 100,000 rows deep on 5,000,000 entries',
        'within 1.2×; deep page ≤ 1.5× first',
        'not measured yet: run `npm run bench:scale`',
      ),
    ]),
  ];
  const invariantsOk = [bench, scale].every((results) => !results || results.invariants.every((report) => report.ok));
  const lines: string[] = [
    '# Benchmarks',
    '',
    'Written by `npm run bench` (S1–S7, S9 and the pgbench references) and `npm run bench:scale` (S8); the tables are regenerated by each run, ' +
      'the notes are kept. Load comes from a separate process over HTTP keep-alive at fixed concurrency with unique idempotency keys; the server is ' +
      'the built JS in production mode. The references (pgbench TPC-B, 8 clients, default protocol) run on separate databases of the same ' +
      'Postgres in the same run, interleaved with the scenarios round by round.',
    '',
    ...(bench ? runHeader(bench) : ['No `npm run bench` results yet.']),
    '',
    ...(scale ? ['S8: ' + runHeader(scale)[0], '', runHeader(scale)[2]!, ''] : []),
    '## Targets',
    '',
    ...targetsTable(targets),
    '',
    '## Notes: what limits each unmet target',
    '',
    NOTES_START,
    notes || '_No notes yet._',
    NOTES_END,
    '',
  ];
  for (const results of [bench, scale]) {
    if (!results) continue;
    lines.push(
      `## All figures of \`npm run ${results.kind}\` (medians, and each round)`,
      '',
      'Throughput counts successful requests; CPU columns are average cores used during the measured window ' +
        '(server = the API process, postgres = the whole cluster, driver = the load driver, machine = everything, other = the rest of the machine).',
      '',
      ...figuresTable(results, titles),
      '',
    );
    if (Object.keys(results.notMeasured).length) {
      lines.push('Not measured:', '', ...Object.entries(results.notMeasured).map(([id, why]) => `- ${id}: ${why}`), '');
    }
  }
  if (bench?.profile) {
    lines.push('## Profile', '', ...profileSection(bench.profile), '');
  }
  if (!invariantsOk) {
    lines.push(
      '## INTEGRITY VIOLATIONS',
      '',
      '```json',
      JSON.stringify(
        [bench, scale].flatMap((results) => results?.invariants.flatMap((report) => report.violations) ?? []),
        null,
        2,
      ),
      '```',
      '',
    );
  }
  return lines.join('\n');
}

export function readResults(file: string): BenchResults | null {
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as BenchResults) : null;
}

/** Regenerates the document from both result files; `titles` names the scenarios. */
export async function writeReport(
  markdownFile: string,
  files: { bench: string; scale: string },
  titles: Record<string, string>,
): Promise<void> {
  const markdown = renderMarkdown(
    { bench: readResults(files.bench), scale: readResults(files.scale) },
    titles,
    keptNotes(markdownFile),
  );
  await writeFile(markdownFile, markdown);
}

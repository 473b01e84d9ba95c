import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { ADMIN_KEY, startTestServer, type TestServer } from './support/server';

/**
 * The IDE in a real browser: Debian's Chromium, headless, driven by playwright-core. The page must load
 * with nothing failing (no 404, no console error), open with a document the schema accepts, and run it
 * as is. Run by `npm run test:browser`, apart from `npm test`, which needs no browser. CI installs Chromium
 * (.ci/run); elsewhere `apt-get install -y chromium`, or set CHROMIUM_PATH.
 */
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

let browser: Browser;
let t: TestServer;
beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install -y chromium`);
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-default-apps',
      '--disable-sync',
      '--no-first-run',
    ],
  });
  t = await startTestServer({ graphiqlHeaders: { Authorization: `Bearer ${ADMIN_KEY}` } });
});
afterAll(async () => {
  await browser?.close();
  await t?.stop();
});

/** Opens the IDE, recording every failed response, console error and page error. */
async function openIde(url: string): Promise<{ page: Page; failures: string[] }> {
  const page = await browser.newPage();
  const failures: string[] = [];
  page.on('response', (response) => {
    if (response.status() >= 400) failures.push(`${response.status()} ${response.url()}`);
  });
  page.on('console', (message) => {
    if (message.type() === 'error') failures.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => failures.push(`page error: ${error.message}`));
  await page.goto(url);
  await page.waitForSelector('.graphiql-query-editor .CodeMirror');
  return { page, failures };
}

// Page functions run in the browser, where CodeMirror 5 hangs its editor on each .CodeMirror element.
interface CodeMirror {
  getValue(): string;
  setValue(text: string): void;
  getAllMarks(): Array<{ className?: string; find(): { from: { line: number } } | undefined }>;
}
declare const document: { querySelectorAll(selector: string): ArrayLike<{ CodeMirror: CodeMirror }> };

/** The text of every editor under `selector`, joined by newlines. */
async function editorText(page: Page, selector: string): Promise<string> {
  return page.evaluate(
    (css) =>
      Array.from(document.querySelectorAll(`${css} .CodeMirror`))
        .map((element) => element.CodeMirror.getValue())
        .join('\n'),
    selector,
  );
}

async function setQuery(page: Page, text: string): Promise<void> {
  await page.evaluate(
    (value) => document.querySelectorAll('.graphiql-query-editor .CodeMirror')[0]!.CodeMirror.setValue(value),
    text,
  );
}

/** The lines (from 0) of the query editor that the linter marks as errors. */
async function lintErrorLines(page: Page): Promise<number[]> {
  return page.evaluate(() =>
    document
      .querySelectorAll('.graphiql-query-editor .CodeMirror')[0]!
      .CodeMirror.getAllMarks()
      .filter((mark) => mark.className?.includes('CodeMirror-lint-mark-error'))
      .map((mark) => mark.find()?.from.line ?? -1),
  );
}

it('opens with a document that lints clean and runs as is, with nothing failing on the page', async () => {
  const { page, failures } = await openIde(t.url.replace(/\/graphql$/, '/graphiql'));
  const opening = await editorText(page, '.graphiql-query-editor');
  expect(opening).toMatch(/^# Welcome to Reward Ledger\.\n# The Headers tab already holds this server's admin key/);

  await page.click('.graphiql-execute-button');
  await page.waitForFunction(() =>
    Array.from(document.querySelectorAll('.result-window .CodeMirror')).some((element) =>
      element.CodeMirror.getValue().includes('"viewer"'),
    ),
  );
  expect(JSON.parse(await editorText(page, '.result-window'))).toEqual({
    data: { viewer: { credential: 'BOOTSTRAP_ADMIN', role: 'ADMIN', expiresAt: null, ledger: null, account: null } },
  });
  // The document lints clean: the linter is live (the schema has loaded), as the old default query,
  // appended, gets marked, and only there, never in the default document above it.
  const openingLines = opening.split('\n').length;
  await setQuery(page, `${opening}\nquery Old { me { credential } }\n`);
  await page.waitForSelector('.CodeMirror-lint-mark-error');
  const marked = await lintErrorLines(page);
  expect(marked.length).toBeGreaterThan(0);
  expect(marked.every((line) => line >= openingLines - 1)).toBe(true);

  expect(failures).toEqual([]);
  await page.close();
});

it('tells a visitor without pre-filled headers to replace the placeholder', async () => {
  const plain = await startTestServer();
  try {
    const { page, failures } = await openIde(plain.url.replace(/\/graphql$/, '/graphiql'));
    expect(await editorText(page, '.graphiql-query-editor')).toContain(
      '# Replace the placeholder in the Headers tab with your API key or a customer token',
    );
    expect(await editorText(page, '.graphiql-editor-tool')).toContain('Bearer <your API key or customer token>');
    // The schema request goes without credentials and is refused (401): that refusal is the only failure.
    expect(failures.every((failure) => /^401 |status of 401/.test(failure))).toBe(true);
    await page.close();
  } finally {
    await plain.stop();
  }
});

import { createHash } from 'node:crypto';
import type { Database } from '../platform/db.js';
import {
  BadInputError,
  ConflictError,
  IdempotencyConflictError,
  ImportBusyError,
  ImportTooLargeError,
} from '../platform/errors.js';
import { newId } from '../platform/ids.js';
import { isRetryableSqlError } from '../platform/transaction.js';
import { auditEvent, type RequestOrigin } from '../audit/audit.js';
import { insertAuditEventSql } from '../audit/audit.repository.js';
import type { AssetService } from '../assets/asset.service.js';
import {
  bodyParser,
  IMPORT_BODY_BYTES_MAX,
  IMPORT_RECORDS_PER_CALL_MAX,
  type BodyFormat,
  type ParsedRow,
} from './import-body.core.js';
import { checkRecord, REJECTIONS_KEPT_MAX, RejectionList, type AssetCodes } from './record.core.js';
import {
  COPY_STAGING,
  CopyIn,
  createStaging,
  insertImport,
  mergeStaged,
  selectImport,
  stagingLine,
  type ImportRow,
} from './import.repository.js';
import { lockSource, type SourceRow } from './source.repository.js';
import type { SourceService } from './source.service.js';
import { ImportRejection, ImportResult } from './import.types.js';

/**
 * The merge hashes and joins the whole staging table at once: with the default work_mem (4 MB) a million
 * rows spill to disk in batches. Its hashes get four times that (hash_mem_multiplier): grouping a million
 * external ids to find the repeated ones takes 130 MB, and at twice work_mem it spilled in five batches
 * (0.85 s, against 0.4 s in memory). JIT is off: the merge's INSERT is costed high enough to be compiled,
 * and compiling took longer than it saved. The settings end with the transaction.
 */
const BEGIN_IMPORT = "BEGIN; SET LOCAL work_mem = '64MB'; SET LOCAL hash_mem_multiplier = 4; SET LOCAL jit = off";
/**
 * Staging a million rows overflows the default temp_buffers (8 MB) and sends the temporary tables to disk,
 * which on a shared machine made the merge disk-bound. Postgres accepts the setting only before a session
 * first touches a temporary table, so it is asked once per pooled connection, before its first import, and
 * kept (the buffers are the backend's and are allocated only as used).
 */
const TEMP_BUFFERS = '256MB';
const buffered = new WeakSet<object>();
async function giveTemporaryBuffers(client: { query(text: string): Promise<unknown> }): Promise<void> {
  if (buffered.has(client)) return;
  buffered.add(client);
  try {
    await client.query(`SET temp_buffers = '${TEMP_BUFFERS}'`);
  } catch {
    // This connection already used temporary tables (another module's statement): the default stays.
  }
}

/** Text gathered before one CopyData message: large enough that messages are few, small enough to stay flat. */
const COPY_CHUNK_CHARS = 256 * 1024;
export const IMPORT_KEY_LENGTH_MAX = 255;
/**
 * Streamed imports one instance works at once. Each holds a database connection and its transaction for as
 * long as its client takes to send the body, so without a cap a few slow uploads would take the pool from
 * every other request. One more is refused with IMPORT_BUSY (HTTP 503) before its body is read.
 */
export const STREAMED_IMPORTS_MAX = 2;
const IMPORT_BUSY_RETRY_AFTER_SECONDS = 5;
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what this refuses.
const CONTROL = /[\u0000-\u001f\u007f]/;

export interface RecordInput {
  externalId: string;
  asset: string;
  amount: bigint;
  direction: string;
  occurredAt: Date;
  reference?: string | null;
  accountCode?: string | null;
  metadata?: Record<string, unknown> | null;
}

export interface ImportRecordsInput {
  sourceId: string;
  idempotencyKey: string;
  records: RecordInput[];
}

/** Where an import's rows come from: it feeds them to `accept` in line order and answers the request hash. */
type Feed = (accept: (rows: ParsedRow[]) => Promise<void>) => Promise<string>;

function toResult(row: Omit<ImportRow, 'createdAt'>, replayed: boolean): ImportResult {
  return Object.assign(new ImportResult(), {
    id: row.id,
    inserted: row.inserted,
    updated: row.updated,
    unchanged: row.unchanged,
    rejected: row.rejections.map((rejection) => Object.assign(new ImportRejection(), rejection)),
    rejectedCount: row.rejectedCount,
    replayed,
  });
}

function checkKey(key: string | null | undefined): string {
  if (typeof key !== 'string' || key.length === 0 || key.length > IMPORT_KEY_LENGTH_MAX || CONTROL.test(key))
    throw new BadInputError(`the idempotency key must be 1 to ${IMPORT_KEY_LENGTH_MAX} printable characters`);
  return key;
}

/**
 * Imports of external records, GraphQL (≤ 1,000 a call) or streamed HTTP (CSV or NDJSON). Both run the same
 * way: rows are validated as they arrive and streamed into a staging table by one COPY, then merged set-based; the whole import is
 * one database transaction, so a body refused half-way (too large, not text) leaves nothing behind.
 *
 * The one transaction holds a pooled connection for as long as the body takes to arrive; the source row is
 * locked only for the merge at the end, so imports of one source stream side by side and merge in turn.
 * Importing needs the OPERATOR role over the source's ledger: like posting, it is day-to-day work that
 * moves no value.
 */
export class ImportService {
  constructor(
    private readonly db: Database,
    private readonly sources: SourceService,
    private readonly assets: AssetService,
  ) {}

  private streaming = 0;

  /** Streamed imports this instance is working now, for tests and metrics. */
  streamingCount(): number {
    return this.streaming;
  }

  async importRecords(origin: RequestOrigin, input: ImportRecordsInput): Promise<ImportResult> {
    const source = await this.sources.reachable(origin, 'importExternalRecords', input.sourceId, 'sourceId');
    const key = checkKey(input.idempotencyKey);
    if (input.records.length > IMPORT_RECORDS_PER_CALL_MAX)
      throw new ImportTooLargeError(
        `importExternalRecords takes at most ${IMPORT_RECORDS_PER_CALL_MAX} records a call; use the streamed HTTP import for more`,
        { limit: 'recordsPerCall', max: String(IMPORT_RECORDS_PER_CALL_MAX) },
      );
    const hash = createHash('sha256')
      .update('graphql\n')
      .update(
        JSON.stringify(
          input.records.map((r) => [
            r.externalId,
            r.asset,
            r.amount.toString(),
            r.direction,
            r.occurredAt.toISOString(),
            r.reference ?? null,
            r.accountCode ?? null,
            r.metadata ?? null,
          ]),
        ),
      )
      .digest('base64url');
    const existing = await selectImport(this.db.pool, source.rootLedgerId, source.id, key);
    if (existing !== null) return this.replay(existing, hash);
    return this.run(origin, source, key, async (accept) => {
      await accept(input.records.map((fields, index) => ({ line: index + 1, fields })));
      return hash;
    });
  }

  /**
   * The streamed import: `body` is read chunk by chunk and never held whole. The request hash is of the
   * format and the exact bytes, so a repeated key with the same body replays and any other body conflicts.
   */
  async importStream(
    origin: RequestOrigin,
    sourceId: string,
    idempotencyKey: string | undefined,
    format: BodyFormat,
    body: AsyncIterable<Buffer>,
  ): Promise<ImportResult> {
    const source = await this.sources.reachable(origin, 'importExternalRecords', sourceId, 'sourceId');
    const key = checkKey(idempotencyKey);
    const existing = await selectImport(this.db.pool, source.rootLedgerId, source.id, key);
    const feed: Feed = async (accept) => {
      const hash = createHash('sha256').update(`${format}\n`);
      const parser = existing === null ? bodyParser(format) : null;
      const decoder = new TextDecoder('utf-8', { fatal: true });
      let bytes = 0;
      const decode = (chunk?: Buffer) => {
        try {
          return chunk === undefined ? decoder.decode() : decoder.decode(chunk, { stream: true });
        } catch {
          throw new BadInputError('the body is not UTF-8 text');
        }
      };
      for await (const chunk of body) {
        bytes += chunk.length;
        if (bytes > IMPORT_BODY_BYTES_MAX)
          throw new ImportTooLargeError(
            `an import body may be at most ${IMPORT_BODY_BYTES_MAX} bytes; split the file`,
            {
              limit: 'bodyBytes',
              max: String(IMPORT_BODY_BYTES_MAX),
            },
          );
        hash.update(chunk);
        if (parser !== null) await accept(parser.push(decode(chunk)));
      }
      if (parser !== null) await accept([...parser.push(decode()), ...parser.end()]);
      return hash.digest('base64url');
    };
    if (existing !== null) return this.replay(existing, await feed(async () => undefined));
    if (this.streaming >= STREAMED_IMPORTS_MAX)
      throw new ImportBusyError(
        `this server is already streaming ${STREAMED_IMPORTS_MAX} imports; retry in ${IMPORT_BUSY_RETRY_AFTER_SECONDS} s`,
        { max: String(STREAMED_IMPORTS_MAX), retryAfterSeconds: String(IMPORT_BUSY_RETRY_AFTER_SECONDS) },
      );
    this.streaming += 1;
    try {
      return await this.run(origin, source, key, feed);
    } finally {
      this.streaming -= 1;
    }
  }

  private replay(existing: ImportRow, hash: string): ImportResult {
    if (existing.requestHash !== hash)
      throw new IdempotencyConflictError(
        `idempotency key ${existing.idempotencyKey} was already used for a different import of this source`,
      );
    return toResult(existing, true);
  }

  private async assetCodes(rootLedgerId: string): Promise<AssetCodes> {
    const assets = await this.assets.listForRoots([rootLedgerId]);
    return new Map(assets.map((asset) => [asset.code, asset.id]));
  }

  private async run(origin: RequestOrigin, source: SourceRow, key: string, feed: Feed): Promise<ImportResult> {
    const assets = await this.assetCodes(source.rootLedgerId);
    const importId = newId();
    const client = await this.db.pool.connect();
    let broken = false;
    let requestHash = '';
    try {
      await giveTemporaryBuffers(client);
      await client.query(BEGIN_IMPORT);
      await createStaging(client);
      const rejections = new RejectionList();
      const copy = await CopyIn.start(client, COPY_STAGING);
      let pending = '';
      try {
        requestHash = await feed(async (rows) => {
          for (const row of rows) {
            if (row.fields === null) {
              rejections.add({ line: row.line, externalId: row.externalId, message: row.error });
              continue;
            }
            const checked = checkRecord(row.fields, row.line, assets);
            if (checked.ok) pending += stagingLine(checked.record, newId());
            else rejections.add(checked.rejection);
          }
          if (pending.length >= COPY_CHUNK_CHARS) {
            const chunk = Buffer.from(pending);
            pending = '';
            await copy.write(chunk);
          }
        });
        if (pending.length > 0) await copy.write(Buffer.from(pending));
      } catch (error) {
        await copy.fail('the import was refused');
        throw error;
      }
      await copy.end();
      await lockSource(client, source.rootLedgerId, source.id, false);
      const merged = await mergeStaged(client, source.rootLedgerId, source.id, importId, REJECTIONS_KEPT_MAX);
      rejections.merge(merged.duplicates, merged.duplicateCount);
      const row: Omit<ImportRow, 'createdAt'> = {
        id: importId,
        rootLedgerId: source.rootLedgerId,
        sourceId: source.id,
        idempotencyKey: key,
        requestHash,
        inserted: merged.inserted,
        updated: merged.updated,
        unchanged: merged.unchanged,
        rejectedCount: rejections.count,
        rejections: [...rejections.list],
      };
      await insertImport(client, row);
      await insertAuditEventSql(
        client,
        auditEvent(origin, 'importExternalRecords', source.rootLedgerId, [source.id, importId]),
      );
      await client.query('COMMIT');
      return toResult(row, false);
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true;
      }
      if ((error as { code?: string; constraint?: string }).constraint === 'reconciliation_imports_key') {
        // A concurrent import with the same key committed first: answer as a repeat of it.
        const stored = await selectImport(this.db.pool, source.rootLedgerId, source.id, key);
        if (stored !== null) return this.replay(stored, requestHash);
      }
      if (isRetryableSqlError(error)) throw new ConflictError('the import collided with concurrent writes; retry it');
      throw error;
    } finally {
      client.release(broken);
    }
  }
}

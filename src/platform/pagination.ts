import { Field, ObjectType, type ClassType } from 'type-graphql';
import { BadInputError } from './errors.js';
import { isUuid } from './ids.js';

export const PAGE_SIZE_DEFAULT = 50;
export const PAGE_SIZE_MAX = 500;

export interface Page {
  /** Rows wanted. */
  size: number;
  /** Exclusive keyset bound (an id), or null for the first page. */
  after: string | null;
}

export function readPage(first: number | null | undefined, after: string | null | undefined): Page {
  const size = first ?? PAGE_SIZE_DEFAULT;
  if (!Number.isInteger(size) || size < 0 || size > PAGE_SIZE_MAX) {
    throw new BadInputError(`first must be an integer from 0 to ${PAGE_SIZE_MAX}`);
  }
  return { size, after: after == null ? null : decodeCursor(after) };
}

// Cursors are opaque to clients; inside they carry the id of the last row seen.
export function encodeCursor(id: string): string {
  return Buffer.from(`id:${id}`).toString('base64url');
}

export function decodeCursor(cursor: string): string {
  const decoded = cursor.length <= 64 ? Buffer.from(cursor, 'base64url').toString() : '';
  const id = decoded.startsWith('id:') ? decoded.slice(3) : '';
  if (!isUuid(id)) throw new BadInputError('after is not a cursor this API issued');
  return id.toLowerCase();
}

@ObjectType()
export class PageInfo {
  @Field(() => Boolean)
  hasNextPage!: boolean;

  @Field(() => String, { nullable: true })
  endCursor!: string | null;
}

export interface Connection<T> {
  edges: Array<{ cursor: string; node: T }>;
  pageInfo: PageInfo;
}

/** Builds a connection from rows fetched with `size + 1` so the extra row answers hasNextPage. */
export function toConnection<T extends { id: string }>(rows: T[], page: Page): Connection<T> {
  const nodes = rows.slice(0, page.size);
  const edges = nodes.map((node) => ({ cursor: encodeCursor(node.id), node }));
  return { edges, pageInfo: { hasNextPage: rows.length > page.size, endCursor: edges.at(-1)?.cursor ?? null } };
}

/** Declares `<Name>Connection` and `<Name>Edge` object types for a node type. */
export function ConnectionType<T extends object>(name: string, nodeType: ClassType<T>) {
  @ObjectType(`${name}Edge`)
  class Edge {
    @Field(() => String)
    cursor!: string;

    @Field(() => nodeType)
    node!: T;
  }

  @ObjectType(`${name}Connection`)
  class ConnectionObject {
    @Field(() => [Edge])
    edges!: Edge[];

    @Field(() => PageInfo)
    pageInfo!: PageInfo;
  }
  return ConnectionObject;
}

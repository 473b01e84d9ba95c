import { parse, type DocumentNode, type GraphQLError } from 'graphql';

/** Distinct operation texts kept parsed; apps subscribe with a handful, all sockets alike. */
export const DOCUMENT_CACHE_ENTRIES_MAX = 200;
/**
 * Longest operation text kept. Longer ones are parsed for their subscription alone, as before, so that a
 * client sending many large distinct documents cannot make the cache hold more than about 200 × 4 KB of
 * text and its syntax trees.
 */
export const DOCUMENT_CACHE_TEXT_MAX = 4_096;

/**
 * Parsed and validated GraphQL documents shared by every subscription sending the same text.
 *
 * graphql-ws parses each `subscribe` message on its own and the running subscription keeps that syntax
 * tree (with its token list and locations, about 10 KB for a one-field subscription) for as long as it
 * lives. Ten thousand sockets subscribing with one query held ten thousand identical trees. A document
 * is immutable once parsed and validation depends only on the schema and the document, so both are
 * done once per text; the validation result is kept beside the tree it belongs to.
 */
export class DocumentCache {
  private readonly documents = new Map<string, DocumentNode>();
  private readonly validations = new WeakMap<DocumentNode, readonly GraphQLError[]>();

  constructor(
    private readonly entriesMax = DOCUMENT_CACHE_ENTRIES_MAX,
    private readonly textMax = DOCUMENT_CACHE_TEXT_MAX,
  ) {}

  /** The parsed document (a syntax error throws, as graphql's `parse` does, and is not remembered). */
  parse(text: string): DocumentNode {
    const cached = this.documents.get(text);
    if (cached !== undefined) {
      // Least recently used goes first: re-inserting moves the entry to the end of the Map's order.
      this.documents.delete(text);
      this.documents.set(text, cached);
      return cached;
    }
    const document = parse(text);
    if (text.length <= this.textMax) {
      if (this.documents.size >= this.entriesMax) this.documents.delete(this.documents.keys().next().value!);
      this.documents.set(text, document);
    }
    return document;
  }

  /** The validation errors of `document`, computed by `validate` the first time this tree is seen. */
  validate(document: DocumentNode, validate: (document: DocumentNode) => readonly GraphQLError[]): readonly GraphQLError[] {
    let errors = this.validations.get(document);
    if (errors === undefined) {
      errors = validate(document);
      this.validations.set(document, errors);
    }
    return errors;
  }

  get size(): number {
    return this.documents.size;
  }
}

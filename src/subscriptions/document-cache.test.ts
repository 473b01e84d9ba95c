import { GraphQLError, type DocumentNode } from 'graphql';
import { DocumentCache } from './document-cache';

describe('DocumentCache', () => {
  it('hands every subscriber sending the same text one shared syntax tree', () => {
    const cache = new DocumentCache();
    const text = 'subscription { balanceUpdated(accountId: "a") { version } }';
    expect(cache.parse(text)).toBe(cache.parse(text));
    expect(cache.size).toBe(1);
  });

  it('validates a tree once and returns the same errors afterwards', () => {
    const cache = new DocumentCache();
    const document = cache.parse('{ nope }');
    const errors = [new GraphQLError('Cannot query field "nope"')];
    const validate = jest.fn((_document: DocumentNode) => errors);
    expect(cache.validate(document, validate)).toBe(errors);
    expect(cache.validate(document, validate)).toBe(errors);
    expect(validate).toHaveBeenCalledTimes(1);
  });

  it('forgets the least recently used text beyond its bound', () => {
    const cache = new DocumentCache(2);
    const first = cache.parse('{ a }');
    cache.parse('{ b }');
    cache.parse('{ a }');
    cache.parse('{ c }');
    expect(cache.size).toBe(2);
    expect(cache.parse('{ a }')).toBe(first);
  });

  it('parses a text longer than its bound without keeping it', () => {
    const cache = new DocumentCache(10, 8);
    const text = '{ aLongFieldName }';
    expect(cache.parse(text)).not.toBe(cache.parse(text));
    expect(cache.size).toBe(0);
  });

  it('throws on a syntax error, as graphql does, and remembers nothing', () => {
    const cache = new DocumentCache();
    expect(() => cache.parse('subscription {')).toThrow(GraphQLError);
    expect(cache.size).toBe(0);
  });
});

import { parseJsonBody } from './json-body.core';

// The messages themselves are JSON.parse's (they change with the V8 version), so they are compared with it;
// test/graphql-fast-path.test.ts compares the whole answers with express.json()'s.
const parseMessage = (text: string) => {
  try {
    JSON.parse(text);
    return null;
  } catch (error) {
    return (error as Error).message;
  }
};

it('reads an object or an array, and forgives an empty body and a byte order mark', () => {
  expect(parseJsonBody('{"query":"{ __typename }"}')).toEqual({ body: { query: '{ __typename }' } });
  expect(parseJsonBody(' \n[1, 2]')).toEqual({ body: [1, 2] });
  expect(parseJsonBody('')).toEqual({ body: {} });
  expect(parseJsonBody('\ufeff{"a":1}')).toEqual({ body: { a: 1 } });
});

it("refuses malformed JSON with 400 and JSON.parse's own message", () => {
  expect(parseJsonBody('{"query": ')).toEqual({ status: 400, message: parseMessage('{"query": ') });
});

it('refuses JSON that is neither an object nor an array, naming the text that starts it', () => {
  for (const text of ['"{ __typename }"', '  42', 'true', 'null']) {
    const problem = parseJsonBody(text);
    expect(problem).toMatchObject({ status: 400 });
    expect((problem as { message: string }).message).toContain(text.trim().slice(0, 1));
    expect((problem as { message: string }).message).not.toContain('#');
  }
  expect(parseJsonBody('   ')).toEqual({ status: 400, message: parseMessage('') });
});

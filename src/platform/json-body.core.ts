/**
 * The JSON body rules of `express.json()` (body-parser 2, strict mode), for the GraphQL fast path
 * (graphql-http.ts), which reads bodies itself: the same values and the same error messages, so a client
 * cannot tell the two paths apart.
 */

/** What the fast path answers for a body it cannot use: an HTTP status and the message body-parser gives. */
export interface BodyProblem {
  status: number;
  message: string;
}

export const BODY_TOO_LARGE: BodyProblem = { status: 413, message: 'request entity too large' };
export const BODY_ABORTED: BodyProblem = { status: 400, message: 'request aborted' };

// JSON whitespace (RFC 8259): space, tab, line feed, carriage return.
const FIRST_NON_WHITESPACE = /^[ \t\n\r]*([^ \t\n\r]|$)/;
const BYTE_ORDER_MARK = '\ufeff';

/**
 * Parses a decoded body as body-parser does: an empty body is `{}` (a common client mistake it forgives),
 * a leading byte order mark is dropped (its UTF-8 decoder does), and only an object or an array is JSON
 * here; anything else is a 400 with JSON.parse's own message about the first offending character.
 */
export function parseJsonBody(decoded: string): { body: unknown } | BodyProblem {
  const text = decoded.startsWith(BYTE_ORDER_MARK) ? decoded.slice(1) : decoded;
  if (text.length === 0) return { body: {} };
  if (text[0] !== '{' && text[0] !== '[') {
    const first = FIRST_NON_WHITESPACE.exec(text)?.[1] || undefined;
    if (first !== '{' && first !== '[') return { status: 400, message: strictViolationMessage(text, first) };
  }
  try {
    return { body: JSON.parse(text) };
  } catch (error) {
    return { status: 400, message: (error as Error).message };
  }
}

// body-parser masks everything from the first non-whitespace character on with '#', lets JSON.parse name
// the position, then puts the real characters back into the message.
function strictViolationMessage(text: string, first: string | undefined): string {
  const index = first === undefined ? -1 : text.indexOf(first);
  const partial = index === -1 ? '' : text.slice(0, index) + '#'.repeat(text.length - index);
  try {
    JSON.parse(partial);
    return 'strict violation';
  } catch (error) {
    return (error as Error).message.replace(/#+/g, (placeholder) => text.slice(index, index + placeholder.length));
  }
}

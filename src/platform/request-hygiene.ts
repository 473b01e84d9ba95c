import type express from 'express';

/** How deep a request's JSON may nest before it is refused outright. */
export const JSON_DEPTH_MAX = 64;

// NUL cannot be stored in Postgres text, and a lone UTF-16 surrogate is not a character at all: both are
// refused here, once, for every string of every request, rather than failing deep inside a write.
// biome-ignore lint/suspicious/noControlCharactersInRegex: finding NUL is what this pattern is for.
const FORBIDDEN_CHARACTERS = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** The first problem with a parsed JSON value, or null when it is clean. */
export function findUnacceptableText(value: unknown, path = '$', depth = 0): string | null {
  if (depth > JSON_DEPTH_MAX) return `${path} nests deeper than ${JSON_DEPTH_MAX} levels`;
  if (typeof value === 'string') return FORBIDDEN_CHARACTERS.test(value) ? `${path} contains a NUL byte or invalid Unicode` : null;
  if (Array.isArray(value)) {
    for (const [index, item] of value.entries()) {
      const problem = findUnacceptableText(item, `${path}[${index}]`, depth + 1);
      if (problem) return problem;
    }
    return null;
  }
  if (value !== null && typeof value === 'object') {
    for (const [key, item] of Object.entries(value)) {
      const problem = FORBIDDEN_CHARACTERS.test(key) ? `${path} has a key with a NUL byte or invalid Unicode` : findUnacceptableText(item, `${path}.${key}`, depth + 1);
      if (problem) return problem;
    }
  }
  return null;
}

/** Express middleware: 400 BAD_USER_INPUT for a body or query string that carries unstorable text. */
export function rejectUnacceptableText(): express.RequestHandler {
  return (req, res, next) => {
    const problem = findUnacceptableText(req.body) ?? findUnacceptableText(req.query);
    if (problem === null) return next();
    res.status(400).json({ errors: [{ message: problem, extensions: { code: 'BAD_USER_INPUT', retryable: false } }] });
  };
}

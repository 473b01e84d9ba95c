import {
  GraphQLError,
  Kind,
  type ASTVisitor,
  type FragmentDefinitionNode,
  type SelectionSetNode,
  type ValidationContext,
} from 'graphql';

/** Deepest selection nesting a query may have; the schema's real shapes need far less. */
export const QUERY_DEPTH_MAX = 12;
/** Most lexical tokens a document may have; parsing stops there, before any work is spent on it. */
export const QUERY_TOKENS_MAX = 10_000;
/** Most fields (aliases included) one operation may select, counted through fragments. */
export const QUERY_FIELDS_MAX = 2_000;

/** A validation rule that refuses over-deep or over-wide operations with QUERY_TOO_COMPLEX before execution. */
export function queryBoundsRule(context: ValidationContext): ASTVisitor {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of context.getDocument().definitions) {
    if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  }
  return {
    OperationDefinition(operation) {
      let fields = 0;
      const visit = (
        selectionSet: SelectionSetNode,
        depth: number,
        seen: Set<string>,
        introspection = false,
      ): number => {
        let deepest = depth;
        for (const selection of selectionSet.selections) {
          if (fields > QUERY_FIELDS_MAX) return deepest;
          if (selection.kind === Kind.FIELD) {
            fields += 1;
            // Introspection (`__schema`, `__type`) is a fixed, database-free shape whose type references nest
            // deeper than any data query (GraphiQL's asks for nine levels of ofType): its fields count, its depth does not.
            const inIntrospection = introspection || selection.name.value.startsWith('__');
            if (selection.selectionSet)
              deepest = Math.max(
                deepest,
                visit(selection.selectionSet, inIntrospection ? depth : depth + 1, seen, inIntrospection),
              );
          } else if (selection.kind === Kind.INLINE_FRAGMENT) {
            deepest = Math.max(deepest, visit(selection.selectionSet, depth, seen, introspection));
          } else {
            const fragment = fragments.get(selection.name.value);
            if (fragment && !seen.has(fragment.name.value)) {
              deepest = Math.max(
                deepest,
                visit(fragment.selectionSet, depth, new Set([...seen, fragment.name.value]), introspection),
              );
            }
          }
        }
        return deepest;
      };
      const depth = visit(operation.selectionSet, 1, new Set());
      if (depth > QUERY_DEPTH_MAX) {
        context.reportError(
          new GraphQLError(`query depth ${depth} exceeds the limit of ${QUERY_DEPTH_MAX}`, {
            extensions: { code: 'QUERY_TOO_COMPLEX' },
          }),
        );
      } else if (fields > QUERY_FIELDS_MAX) {
        context.reportError(
          new GraphQLError(`query selects more than ${QUERY_FIELDS_MAX} fields`, {
            extensions: { code: 'QUERY_TOO_COMPLEX' },
          }),
        );
      }
    },
  };
}

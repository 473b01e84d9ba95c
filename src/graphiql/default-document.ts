/**
 * The document GraphiQL opens with: the first thing a newcomer runs, so it must run as is with any
 * credential (API key of any role, or a customer token) and teach what to try next. One operation only,
 * so the Run button runs it without asking which; the next steps are comments, ready to uncomment.
 * test/graphiql.test.ts validates it against the schema and runs it with each kind of credential.
 */
export function defaultDocument(prefilled: boolean): string {
  const credentialStep = prefilled
    ? "# The Headers tab already holds this server's admin key: press Run (▶) or Ctrl-Enter."
    : '# Replace the placeholder in the Headers tab with your API key or a customer token,\n' +
      '# press Re-fetch GraphQL schema (↻) for docs and autocompletion, then Run (▶) or Ctrl-Enter.';
  return `# Welcome to Reward Ledger.
${credentialStep}
query WhoAmI {
  viewer {
    credential
    role
    expiresAt
    ledger { code name }
    account { code name balances { asset { code } available version } }
  }
}

# Next steps (the Docs panel lists everything):
#
# With an API key, the root ledgers you can see:
#   query Ledgers { ledgers(first: 10) { edges { node { id code name } } } }
#
# With a customer token, its account's balance in one asset:
#   query MyPoints { me { code balance(asset: "PTS") { available version } } }
#
# Live updates run over WebSocket at this same address, with the same headers:
#   subscription Live($accountId: ID!) {
#     balanceUpdated(accountId: $accountId, includeCurrent: true) { available version asset { code } }
#   }
`;
}

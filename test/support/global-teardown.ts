import { ADMIN_URL_VAR, TEMPLATE_VAR, suiteNodeAdminUrls, withAdminClient } from './databases';

export default async function globalTeardown(): Promise<void> {
  const adminUrl = process.env[ADMIN_URL_VAR];
  const template = process.env[TEMPLATE_VAR];
  if (adminUrl && template) {
    // The coordinator first, then the Citus workers' copies of the fresh databases (none on plain Postgres).
    const nodeUrls = suiteNodeAdminUrls(adminUrl);
    for (const nodeUrl of nodeUrls) {
      await withAdminClient(nodeUrl, async (client) => {
        // Test files drop their own databases; this sweeps any left by a crashed worker, and the template.
        const { rows } = await client.query<{ datname: string }>(
          "SELECT datname FROM pg_database WHERE datname LIKE $1 || '_f_%' OR datname = $1",
          [template],
        );
        for (const { datname } of rows) await client.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
      }).catch(() => undefined);
    }
  }
  const embedded = (globalThis as { __RL_EMBEDDED__?: { stop(): Promise<void> } }).__RL_EMBEDDED__;
  if (embedded) await embedded.stop();
}

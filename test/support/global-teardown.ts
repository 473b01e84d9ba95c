import { ADMIN_URL_VAR, TEMPLATE_VAR, withAdminClient } from './databases';

export default async function globalTeardown(): Promise<void> {
  const adminUrl = process.env[ADMIN_URL_VAR];
  const template = process.env[TEMPLATE_VAR];
  if (adminUrl && template) {
    await withAdminClient(adminUrl, async (client) => {
      // Test files drop their own databases; this sweeps any left by a crashed worker, and the template.
      const { rows } = await client.query<{ datname: string }>(
        "SELECT datname FROM pg_database WHERE datname LIKE $1 || '_f_%' OR datname = $1",
        [template],
      );
      for (const { datname } of rows) await client.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    }).catch(() => undefined);
  }
  const embedded = (globalThis as { __RL_EMBEDDED__?: { stop(): Promise<void> } }).__RL_EMBEDDED__;
  if (embedded) await embedded.stop();
}

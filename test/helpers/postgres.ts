// A fresh database per test suite on the shared PostgreSQL server, dropped afterwards. Tests never
// skip when PostgreSQL is down: they fail and say how to start it.
import pg from 'pg';

/** The maintenance connection, from which test databases are created and dropped. */
export const MAINTENANCE_URL =
  process.env.LIVEREVIEW_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  /** postgres:// URL of the new database. */
  url: string;
  name: string;
  /** Drops the database, ending any connection still open to it. */
  drop(): Promise<void>;
}

let counter = 0;

async function onMaintenance<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: MAINTENANCE_URL, connectionTimeoutMillis: 5000 });
  client.on('error', () => undefined); // a failed query reports it; an idle error has no one to tell
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw new Error(
      `PostgreSQL is not reachable at ${MAINTENANCE_URL}: ${(err as Error).message}. ` +
        'Start it with scripts/services.sh (or: pg_ctlcluster --skip-systemctl-redirect ' +
        '$(ls /etc/postgresql) main start), or point LIVEREVIEW_TEST_POSTGRES_URL at a server ' +
        'where the user may create databases.',
      { cause: err },
    );
  }
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** The URL of `database` on the maintenance server. */
export function databaseUrl(database: string, port?: number): string {
  const url = new URL(MAINTENANCE_URL);
  url.pathname = `/${database}`;
  if (port !== undefined) url.port = String(port);
  return url.toString();
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const name = `lr_${process.pid}_${++counter}`;
  await onMaintenance(async (client) => {
    for (let attempt = 1; ; attempt++) {
      try {
        await client.query(`CREATE DATABASE ${name}`);
        return;
      } catch (err) {
        // 55006: someone else (another test run) is connected to the template database right now.
        if ((err as { code?: string }).code !== '55006' || attempt === 10) throw err;
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
      }
    }
  });
  return {
    url: databaseUrl(name),
    name,
    drop: () =>
      onMaintenance((client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)).then(
        () => undefined,
      ),
  };
}

// The connection pool of a PostgreSQL store, set up so that a database that is down, restarting
// or hung makes calls fail (the engine answers UNAVAILABLE and clients retry) instead of hanging
// them or crashing the process, and so that the pool reconnects by itself when it is back.
import pg from 'pg';

export interface PoolSettings {
  /** Connections to PostgreSQL. */
  max: number;
  /** A connection attempt that takes longer fails (a black-holed host would otherwise hang). */
  connectTimeoutMs: number;
  /** The server cancels a statement that runs longer; the client gives up shortly after, in case
   * the server is the one that hangs. */
  statementTimeoutMs: number;
  /** Errors of idle connections (the database went away); the pool has already dropped them. */
  onError: (err: Error) => void;
}

/** postgres://user:password@host:port/db without the password, for messages and logs. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    u.password = '';
    return u.toString();
  } catch {
    return '(unparseable PostgreSQL URL)';
  }
}

export function checkUrl(url: string): void {
  let protocol: string;
  try {
    protocol = new URL(url).protocol;
  } catch {
    throw new Error(`not a PostgreSQL URL: ${describeUrl(url)} (expected postgres://user@host:port/db)`);
  }
  if (protocol !== 'postgres:' && protocol !== 'postgresql:') {
    throw new Error(`not a PostgreSQL URL: ${describeUrl(url)} (expected postgres://user@host:port/db)`);
  }
}

// Sequence numbers and millisecond times are int8 columns, which pg returns as strings (they may
// exceed 2^53 in general; ours do not). Scoped to this pool: pg.types is process-wide.
const INT8 = 20;
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8 && format !== 'binary'
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

export function createPool(url: string, settings: PoolSettings): pg.Pool {
  checkUrl(url);
  const pool = new pg.Pool({
    connectionString: url,
    max: settings.max,
    connectionTimeoutMillis: settings.connectTimeoutMs,
    statement_timeout: settings.statementTimeoutMs,
    query_timeout: settings.statementTimeoutMs + 1000,
    // A transaction left open by a vanished client must not keep its row locks.
    idle_in_transaction_session_timeout: settings.statementTimeoutMs,
    // Notices a peer that vanished without a FIN (a dead host) on idle connections.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    application_name: 'livereview',
    types,
  });
  // Without a listener an idle connection's error (database restarted, network cut) would be an
  // uncaught 'error' event and end the process.
  pool.on('error', (err) => settings.onError(err));
  return pool;
}

/** Runs `work` in one transaction on one connection; rolls back (and drops the connection) if it
 * fails. `begin` is the BEGIN statement, e.g. with an isolation level. */
export async function inTransaction<T>(
  pool: pg.Pool,
  begin: string,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  // A checked-out connection has no pool listener: its errors between queries land here, and the
  // next query on it fails.
  let broken: Error | undefined;
  const onError = (err: Error) => {
    broken = err;
  };
  client.on('error', onError);
  try {
    await client.query(begin);
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    broken ??= err as Error;
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.off('error', onError);
    // Releasing with an error closes the connection rather than reusing one in an unknown state.
    client.release(broken);
  }
}

// A LiveReview server in a child process (for kills and restarts), and a free loopback port.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const bin = fileURLToPath(new URL('../../../bin/livereview.js', import.meta.url));

export async function freePort(): Promise<number> {
  return (await freePorts(1))[0]!;
}

/** `n` distinct free ports (all held until every one is chosen, so none is handed out twice). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = Array.from({ length: n }, () => createServer());
  await Promise.all(servers.map((srv) => new Promise<void>((r) => srv.listen(0, '127.0.0.1', r))));
  const ports = servers.map((srv) => (srv.address() as { port: number }).port);
  await Promise.all(servers.map((srv) => new Promise<void>((r) => srv.close(() => r()))));
  return ports;
}

/** Starts `livereview serve` on `port` with `data`, rate limits off (load-style tests), and resolves
 * once it listens. */
export async function startChildServer(
  port: number,
  data: string,
  extraArgs: string[] = [],
): Promise<ChildProcess> {
  // A port picked as free can be taken meanwhile by a client socket of this machine (the
  // ephemeral range): try again a few times rather than fail on that race.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startChildServerOnce(port, data, extraArgs);
    } catch (err) {
      if (attempt === 5 || !/already in use/.test((err as Error).message)) throw err;
      await new Promise((r) => setTimeout(r, 200 * attempt));
    }
  }
}

async function startChildServerOnce(port: number, data: string, extraArgs: string[]): Promise<ChildProcess> {
  const args = [
    'serve',
    '--port',
    String(port),
    '--metrics-port',
    '-1',
    '--http-port',
    '-1',
    '--data',
    data,
    '--log-level',
    'warn',
  ];
  args.push('--rate-user-per-second', '0', '--rate-session-per-second', '0', ...extraArgs);
  const child = spawn(process.execPath, [bin, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', (b: Buffer) => {
      stderr += b.toString();
      if (stderr.includes('listening on')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`server exited (${code}): ${stderr}`)));
  });
  return child;
}

// A LiveReview server in a child process (for kills and restarts), and a free loopback port.
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

export const bin = fileURLToPath(new URL('../../../bin/livereview.js', import.meta.url));

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** Starts `livereview serve` on `port` with `data`, rate limits off (load-style tests), and resolves
 * once it listens. */
export async function startChildServer(
  port: number,
  data: string,
  extraArgs: string[] = [],
): Promise<ChildProcess> {
  const args = [
    'serve',
    '--port',
    String(port),
    '--metrics-port',
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

// What the HTTP-port benchmarks share: a `livereview serve` child with its HTTP port on (TLS:
// HTTP/2; plaintext: HTTP/1.1), a throwaway CA for it, and Subscribe calls as a browser makes them
// (Connect binary, one connection each, as separate browsers hold them), with their frames read
// as they come.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { connect, type ClientHttp2Session } from 'node:http2';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeEnvelope } from '@connectrpc/connect/protocol';
import { SubscribeRequest } from '../src/gen/codereview/v1/codereview.js';
import { makeCerts } from '../test/helpers/certs.js';

export const BIN = fileURLToPath(new URL('../../bin/livereview.js', import.meta.url));
const PATH = '/codereview.v1.CodeReviewService/Subscribe';
const HEADERS = { 'content-type': 'application/connect+proto', 'connect-protocol-version': '1' };

export interface EdgeCerts {
  cert: string;
  key: string;
  ca: Buffer;
  remove(): void;
}

/** A throwaway CA and server certificate (the tests' own, test/helpers/certs.ts). */
export function edgeCerts(): EdgeCerts {
  const made = makeCerts();
  return {
    cert: made.file('server.crt'),
    key: made.file('server.key'),
    ca: made.pem('ca.crt'),
    remove: made.remove,
  };
}

/** The prefix that pins a server to core 0 (`taskset`), when there is one and another core for
 * the load. */
export function pinToCore0(): string[] {
  try {
    execFileSync('taskset', ['-c', '0', 'true']);
    return cpus().length > 1 ? ['taskset', '-c', '0'] : [];
  } catch {
    return [];
  }
}

/** When and where: for a benchmark's heading. */
export const machine = () =>
  `${new Date().toISOString()}, ${cpus().length} cores: ${cpus()[0]?.model ?? '?'}, Node ${process.version}`;

export function rssKb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}

/** User plus system CPU seconds of a process, from /proc. */
export function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** `livereview serve` (durable store in `dir`, metrics off, limits off) on free ports; `bin` may be
 * another checkout's, to compare builds. */
export async function serveEdge(options: {
  dir: string;
  tls?: EdgeCerts | undefined;
  bin?: string;
  /** e.g. ['taskset', '-c', '0'] */
  prefix?: string[];
  /** Node's own flags for the server, e.g. ['--cpu-prof'] */
  nodeFlags?: string[];
}): Promise<{ child: ChildProcess; port: number; httpPort: number }> {
  const argv = [options.bin ?? BIN, 'serve', '--port', '0', '--http-port', '0', '--metrics-port', '-1'];
  argv.push('--data', join(options.dir, 'db'), '--log-level', 'warn');
  argv.push('--rate-user-per-second', '0', '--rate-session-per-second', '0', '--max-participants', '10000');
  if (options.tls) argv.push('--tls-cert-file', options.tls.cert, '--tls-key-file', options.tls.key);
  const [command, ...prefix] = [...(options.prefix ?? []), process.execPath];
  const child = spawn(command!, [...prefix, ...(options.nodeFlags ?? []), ...argv], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  const ports = await new Promise<{ port: number; httpPort: number }>((resolve, reject) => {
    child.stderr!.on('data', (b: Buffer) => {
      err += b.toString();
      const port = /listening on [^\s]*:(\d+) \(gRPC/.exec(err);
      const http = /(?:https?):\/\/127\.0\.0\.1:(\d+) \(web app/.exec(err);
      if (http && port) resolve({ port: Number(port[1]), httpPort: Number(http[1]) });
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
  return { child, ...ports };
}

/** A Subscribe request as the web app sends it: Connect binary, in its envelope. */
function subscribeEnvelope(sessionId: string, userId: string): Uint8Array {
  return encodeEnvelope(
    0,
    SubscribeRequest.encode(SubscribeRequest.fromPartial({ sessionId, userId, clientId: userId })).finish(),
  );
}

/** Splits a response body into its frames as chunks come; calls `onMessage` with each data frame's
 * message. */
function frameReader(onMessage: (message: Buffer) => void): (chunk: Buffer) => void {
  let pending: Buffer = Buffer.alloc(0);
  return (chunk) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    while (pending.length >= 5) {
      const length = pending.readUInt32BE(1);
      if (pending.length < 5 + length) break;
      if (pending[0] === 0) onMessage(pending.subarray(5, 5 + length));
      pending = pending.subarray(5 + length);
    }
  };
}

export interface Subscriber {
  sessionId: string;
  userId: string;
}

/** Opens the Subscribes one after another, each on its own connection (HTTP/2 when `ca` is given,
 * else HTTP/1.1); resolves once each has its first response bytes, with what closes them. */
export async function openSubscribes(
  httpPort: number,
  ca: Buffer | undefined,
  subscribers: Subscriber[],
  onMessage: (message: Buffer) => void = () => undefined,
): Promise<() => void> {
  const closers: (() => void)[] = [];
  const agent = new HttpAgent({ keepAlive: false, maxSockets: Infinity });
  for (const s of subscribers) {
    const read = frameReader(onMessage);
    await new Promise<void>((resolve, reject) => {
      const body = subscribeEnvelope(s.sessionId, s.userId);
      if (ca) {
        const session: ClientHttp2Session = connect(`https://127.0.0.1:${httpPort}`, { ca });
        session.on('error', () => undefined);
        const call = session.request({ ':method': 'POST', ':path': PATH, ...HEADERS });
        call.on('error', () => undefined);
        call.once('data', () => resolve());
        call.on('data', read);
        call.end(body);
        closers.push(() => session.destroy());
        return;
      }
      const req = httpRequest(
        `http://127.0.0.1:${httpPort}${PATH}`,
        { method: 'POST', headers: HEADERS, agent },
        (res) => {
          res.once('data', () => resolve());
          res.on('data', read);
          closers.push(() => res.destroy());
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }
  return () => {
    for (const close of closers) close();
  };
}

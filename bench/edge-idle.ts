// What an idle participant in a browser costs the server: a Subscribe on the HTTP port (Connect
// protocol), one connection per participant as separate browsers would hold, over HTTP/2 (the HTTP
// port with TLS) and over HTTP/1.1 (plaintext). The gRPC participant's figure is `npm run bench --
// --scenario idle`. A `livereview serve` child (durable store in a temporary directory, metrics
// off) serves; this process opens the participants and reads the server's RSS from /proc.
//
// Run: npm run build && node dist/bench/edge-idle.js [--participants 2000]
// (Connect binary, as the web app speaks it.)
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request as httpRequest, Agent as HttpAgent } from 'node:http';
import { connect, type ClientHttp2Session } from 'node:http2';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { encodeEnvelope } from '@connectrpc/connect/protocol';
import { SubscribeRequest } from '../src/gen/codereview/v1/codereview.js';
import { makeCerts } from '../test/helpers/certs.js';

const { values: args } = parseArgs({ options: { participants: { type: 'string', default: '2000' } } });
const N = Number(args.participants);
const SESSIONS = Math.max(1, Math.round(N / 100));
const bin = fileURLToPath(new URL('../../bin/livereview.js', import.meta.url));

/** A Subscribe request as the web app sends it: Connect binary, in its envelope. */
const subscribe = (i: number) =>
  encodeEnvelope(
    0,
    SubscribeRequest.encode(
      SubscribeRequest.fromPartial({
        sessionId: `edge-idle-${i % SESSIONS}`,
        userId: `u${i}`,
        clientId: `c${i}`,
      }),
    ).finish(),
  );
const HEADERS = { 'content-type': 'application/connect+proto', 'connect-protocol-version': '1' };
const PATH = '/codereview.v1.CodeReviewService/Subscribe';

function rssKb(pid: number): number {
  return Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]);
}

/** A throwaway CA and server certificate (the tests' own, test/helpers/certs.ts). */
function certs(): { cert: string; key: string; ca: Buffer; remove(): void } {
  const made = makeCerts();
  return {
    cert: made.file('server.crt'),
    key: made.file('server.key'),
    ca: made.pem('ca.crt'),
    remove: made.remove,
  };
}

async function serve(dir: string, tls?: { cert: string; key: string }) {
  const argv = [
    bin,
    'serve',
    '--port',
    '0',
    '--http-port',
    '0',
    '--metrics-port',
    '-1',
    '--data',
    join(dir, 'db'),
  ];
  argv.push('--log-level', 'warn', '--rate-user-per-second', '0', '--rate-session-per-second', '0');
  argv.push('--max-participants', '10000');
  if (tls) argv.push('--tls-cert-file', tls.cert, '--tls-key-file', tls.key);
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  const httpPort = await new Promise<number>((resolve, reject) => {
    child.stderr!.on('data', (b: Buffer) => {
      err += b.toString();
      const m = /(?:https?):\/\/127\.0\.0\.1:(\d+) \(web app/.exec(err);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`serve exited ${code}: ${err}`)));
  });
  return { child, httpPort };
}

/** Opens `n` Subscribes, each on its own connection; resolves once each has its first response bytes. */
async function openH2(port: number, ca: Buffer, from: number, to: number): Promise<ClientHttp2Session[]> {
  const sessions: ClientHttp2Session[] = [];
  for (let i = from; i < to; i++) {
    const session = connect(`https://127.0.0.1:${port}`, { ca });
    session.on('error', () => undefined);
    const call = session.request({ ':method': 'POST', ':path': PATH, ...HEADERS });
    call.on('error', () => undefined);
    await new Promise<void>((resolve) => {
      call.once('data', () => resolve());
      call.end(subscribe(i));
    });
    call.on('data', () => undefined);
    sessions.push(session);
  }
  return sessions;
}

const agent = new HttpAgent({ keepAlive: false, maxSockets: Infinity });

async function openH1(port: number, from: number, to: number): Promise<(() => void)[]> {
  const closers: (() => void)[] = [];
  for (let i = from; i < to; i++) {
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest(
        `http://127.0.0.1:${port}${PATH}`,
        { method: 'POST', headers: HEADERS, agent },
        (res) => {
          res.once('data', () => resolve());
          res.on('data', () => undefined);
          closers.push(() => res.destroy());
        },
      );
      req.on('error', reject);
      req.end(subscribe(i));
    });
  }
  return closers;
}

const settle = () => new Promise((r) => setTimeout(r, 3000));

console.log(
  `\n### Idle participants on the HTTP port (${new Date().toISOString()}, ${cpus().length} cores: ${cpus()[0]?.model ?? '?'}, Node ${process.version})\n`,
);
console.log(`${N} participants in ${SESSIONS} sessions, a Connect Subscribe each on its own connection\n`);
console.log(
  '| transport | server RSS before, MB | after, MB | KB per participant from the idle server | KB per participant from N/2 to N |',
);
console.log('| --- | --- | --- | --- | --- |');
for (const kind of ['HTTP/2 (TLS)', 'HTTP/1.1 (plaintext)'] as const) {
  const dir = mkdtempSync(join(tmpdir(), 'lr-edge-idle-'));
  const tls = kind.startsWith('HTTP/2') ? certs() : undefined;
  const { child, httpPort } = await serve(dir, tls);
  await settle();
  const close: (() => void)[] = [];
  const open = async (from: number, to: number) => {
    if (tls) for (const s of await openH2(httpPort, tls.ca, from, to)) close.push(() => s.destroy());
    else close.push(...(await openH1(httpPort, from, to)));
    await settle();
    return rssKb(child.pid!);
  };
  const before = rssKb(child.pid!);
  const half = await open(0, N / 2);
  const after = await open(N / 2, N);
  console.log(
    `| ${kind} | ${(before / 1024).toFixed(1)} | ${(after / 1024).toFixed(1)} | ${((after - before) / N).toFixed(1)} | ${((after - half) / (N / 2)).toFixed(1)} |`,
  );
  for (const c of close) c();
  child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
  tls?.remove();
}
process.exit(0);

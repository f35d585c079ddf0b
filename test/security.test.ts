// Security, as a table: every kind of bad token, every role against every message kind, expiry
// with and without refresh, revocation, other sessions, floods, TLS and mTLS.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { LiveReviewClient } from '../src/client/index.js';
import { CodeReviewServiceClient, SessionMessage } from '../src/gen/codereview/v1/codereview.js';
import { mintToken } from '../src/security/tokens.js';
import { Collector, isCase } from './helpers/clients.js';
import { decodeDetails, decodeStatus } from './helpers/status-details.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const bin = fileURLToPath(new URL('../../bin/livereview.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'lr-sec-'));
const SECRET = 'a-test-secret-that-is-long-enough-for-hs256-0123456789';
const secretFile = join(dir, 'secret');
const denylistFile = join(dir, 'denylist.json');
writeFileSync(secretFile, SECRET);
writeFileSync(denylistFile, JSON.stringify({ tokens: [], users: [] }));

type Role = 'author' | 'reviewer' | 'viewer';
const mint = (
  user: string,
  sessions: Record<string, Role>,
  o: { ttl?: number; nbf?: number; jti?: string; secret?: string; audience?: string } = {},
) =>
  mintToken({
    secret: o.secret ?? SECRET,
    userId: user,
    sessions,
    ttlSeconds: o.ttl ?? 3600,
    issuer: 'livereview',
    audience: o.audience ?? 'livereview',
    notBefore: o.nbf,
    tokenId: o.jti,
  });

function bearer(token: string | undefined, raw?: string): grpc.Metadata {
  const md = new grpc.Metadata();
  if (raw !== undefined) md.set('authorization', raw);
  else if (token !== undefined) md.set('authorization', `Bearer ${token}`);
  return md;
}

function open(client: CodeReviewServiceClient, md: grpc.Metadata, sessionId: string, userId = '') {
  const call = client.collaborativeSession(md);
  const got = new Collector<SessionMessage>(call);
  call.write(
    SessionMessage.fromPartial({ sessionId, userId, payload: { $case: 'join', value: { clientId: '' } } }),
  );
  return { call, got };
}

function unaryGetSession(client: CodeReviewServiceClient, md: grpc.Metadata, sessionId: string) {
  return new Promise<grpc.ServiceError | null>((resolve) =>
    client.getSession({ sessionId, pageSize: 0, pageToken: '' }, md, (err) => resolve(err)),
  );
}

after(() => rmSync(dir, { recursive: true, force: true }));

describe('security', () => {
  let server: TestServer;
  let client: CodeReviewServiceClient;
  before(async () => {
    server = await startTestServer({
      logLevel: 'warn',
      authSecretFile: secretFile,
      authDenylistFile: denylistFile,
      authRecheckMs: 100,
      authRefreshAheadMs: 1000,
      rateUserPerSecond: 20,
      rateUserBurst: 20,
      rateSessionPerSecond: 10_000,
      rateSessionBurst: 10_000,
    });
    client = new CodeReviewServiceClient(server.address, grpc.credentials.createInsecure());
    const author = await mint('ann', { sec: 'author' });
    await new Promise<void>((resolve, reject) =>
      client.openReview(
        { sessionId: 'sec', userId: '', clientMessageId: 'o', files: [{ path: 'f.ts', text: 'one\ntwo\n' }] },
        bearer(author),
        (e) => (e ? reject(e) : resolve()),
      ),
    );
  });
  after(async () => {
    client.close();
    await server.shutdown(500);
  });

  it('authenticates every call: each bad token gets its documented status and reason', async () => {
    const rows: { name: string; md: () => Promise<grpc.Metadata>; code: number; reason: string }[] = [
      {
        name: 'no token',
        md: async () => bearer(undefined),
        code: grpc.status.UNAUTHENTICATED,
        reason: 'TOKEN_MISSING',
      },
      {
        name: 'malformed',
        md: async () => bearer('not.a.jwt'),
        code: grpc.status.UNAUTHENTICATED,
        reason: 'TOKEN_INVALID',
      },
      {
        name: 'not a bearer',
        md: async () => bearer(undefined, 'Basic YW5uOnB3'),
        code: grpc.status.UNAUTHENTICATED,
        reason: 'TOKEN_INVALID',
      },
      {
        name: 'wrong signature',
        md: async () =>
          bearer(
            await mint(
              'ann',
              { sec: 'author' },
              { secret: 'another-secret-of-enough-length-0123456789-abcdef' },
            ),
          ),
        code: grpc.status.UNAUTHENTICATED,
        reason: 'TOKEN_INVALID',
      },
      {
        name: 'wrong audience',
        md: async () => bearer(await mint('ann', { sec: 'author' }, { audience: 'someone-else' })),
        code: grpc.status.UNAUTHENTICATED,
        reason: 'TOKEN_INVALID',
      },
      {
        name: 'expired',
        md: async () => bearer(await mint('ann', { sec: 'author' }, { ttl: -60 })),
        code: grpc.status.UNAUTHENTICATED,
        reason: 'TOKEN_EXPIRED',
      },
      {
        name: 'not yet valid',
        md: async () =>
          bearer(await mint('ann', { sec: 'author' }, { nbf: Math.floor(Date.now() / 1000) + 3600 })),
        code: grpc.status.UNAUTHENTICATED,
        reason: 'TOKEN_NOT_YET_VALID',
      },
      {
        name: 'valid',
        md: async () => bearer(await mint('ann', { sec: 'author' })),
        code: grpc.status.OK,
        reason: '',
      },
    ];
    for (const row of rows) {
      const unaryErr = await unaryGetSession(client, await row.md(), 'sec');
      assert.equal(unaryErr?.code ?? 0, row.code, `${row.name}: unary code`);
      if (row.reason)
        assert.equal(
          decodeDetails(unaryErr!.metadata)?.errorInfo?.reason,
          row.reason,
          `${row.name}: unary reason`,
        );
      const s = open(client, await row.md(), 'sec');
      if (row.code === 0) {
        await s.got.waitFor(isCase('welcome'), `${row.name}: welcome`);
        s.call.end();
      } else {
        const ended = await s.got.waitForEnd(`${row.name}: the stream to be refused`);
        assert.equal(ended.code, row.code, `${row.name}: stream code`);
        assert.equal(
          decodeDetails(ended.metadata)?.errorInfo?.reason,
          row.reason,
          `${row.name}: stream reason`,
        );
        assert.ok(!s.got.messages.some(isCase('snapshot')), `${row.name}: nothing of the session leaked`);
      }
    }
  });

  it('lets each role send exactly the message kinds it may, and refuses the rest in-stream', async () => {
    const watcher = open(client, bearer(await mint('watcher', { sec: 'author' })), 'sec');
    await watcher.got.waitFor(isCase('welcome'), 'watcher welcome');
    const kinds = {
      edit: () => ({
        $case: 'edit',
        value: { filePath: 'f.ts', version: 0, operations: [{ kind: { $case: 'insert', value: 'x' } }] },
      }),
      comment: () => ({ $case: 'comment', value: { filePath: 'f.ts', lineNumber: 1, text: 'hm' } }),
      cursor: () => ({ $case: 'cursor', value: { filePath: 'f.ts', line: 1, column: 1 } }),
      presence: () => ({ $case: 'presence', value: { status: 2 } }),
    } as const;
    const allowed: Record<Role, (keyof typeof kinds)[]> = {
      author: ['edit', 'comment', 'cursor', 'presence'],
      reviewer: ['comment', 'cursor', 'presence'],
      viewer: ['presence'],
    };
    for (const role of ['author', 'reviewer', 'viewer'] as Role[]) {
      const user = `${role}-user`;
      const s = open(client, bearer(await mint(user, { sec: role })), 'sec');
      await s.got.waitFor(isCase('welcome'), `${role} welcome`);
      for (const kind of Object.keys(kinds) as (keyof typeof kinds)[]) {
        const id = `${role}-${kind}`;
        s.call.write(
          SessionMessage.fromPartial({
            clientMessageId: id,
            payload: kinds[kind]() as SessionMessage['payload'],
          }),
        );
        if (allowed[role].includes(kind)) {
          // Allowed: the others see it (durable kinds are also acknowledged).
          await watcher.got.waitFor(
            (m) => m.userId === user && m.payload?.$case === kind,
            `${id} reaches the others`,
          );
        } else {
          const err = await s.got.waitFor(
            (m) => isCase('error')(m) && m.payload.value.clientMessageId === id,
            `${id} refused`,
          );
          const d = decodeStatus(isCase('error')(err) ? err.payload.value.status! : (undefined as never));
          assert.deepEqual(
            [d.code, d.errorInfo?.reason],
            [grpc.status.PERMISSION_DENIED, 'ROLE_FORBIDS'],
            id,
          );
        }
      }
      s.call.end();
    }
    // Opening files is for authors only.
    const err = await new Promise<grpc.ServiceError | null>((resolve) =>
      mint('rev', { sec: 'reviewer' }).then((t) =>
        client.openReview(
          { sessionId: 'sec', userId: '', clientMessageId: '', files: [{ path: 'g.ts', text: '' }] },
          bearer(t),
          (e) => resolve(e),
        ),
      ),
    );
    assert.equal(err?.code, grpc.status.PERMISSION_DENIED);
    watcher.call.end();
  });

  it('refuses another session, and a message claiming to be another user', async () => {
    const token = await mint('ann', { sec: 'author' });
    const other = open(client, bearer(token), 'other-session');
    const ended = await other.got.waitForEnd();
    assert.equal(ended.code, grpc.status.PERMISSION_DENIED);
    assert.equal(decodeDetails(ended.metadata)?.errorInfo?.reason, 'SESSION_FORBIDDEN');
    assert.deepEqual(other.got.messages, [], 'nothing of another session reaches the caller');
    const unaryErr = await unaryGetSession(client, bearer(token), 'other-session');
    assert.equal(unaryErr?.code, grpc.status.PERMISSION_DENIED);

    const spoof = open(client, bearer(token), 'sec', 'mallory');
    const spoofed = await spoof.got.waitForEnd();
    assert.equal(spoofed.code, grpc.status.PERMISSION_DENIED);
    assert.equal(decodeDetails(spoofed.metadata)?.errorInfo?.reason, 'USER_MISMATCH');

    const s = open(client, bearer(token), 'sec', 'ann');
    await s.got.waitFor(isCase('welcome'), 'welcome');
    s.call.write(
      SessionMessage.fromPartial({
        userId: 'mallory',
        clientMessageId: 'm1',
        payload: { $case: 'comment', value: { filePath: 'f.ts', lineNumber: 1, text: 'x' } },
      }),
    );
    const refused = await s.got.waitFor(isCase('error'), 'refused in-stream');
    assert.equal(decodeStatus(refused.payload.value.status!).errorInfo?.reason, 'USER_MISMATCH');
    s.call.end();
  });

  it('ends a stream whose token expires unrefreshed, and keeps one whose client refreshes it', async () => {
    const lapsed = open(client, bearer(await mint('ann', { sec: 'author' }, { ttl: 2 })), 'sec');
    await lapsed.got.waitFor(isCase('reauthenticate'), 'the server asks for a fresh token');
    const ended = await lapsed.got.waitForEnd('expiry');
    assert.equal(ended.code, grpc.status.UNAUTHENTICATED);
    assert.equal(decodeDetails(ended.metadata)?.errorInfo?.reason, 'TOKEN_EXPIRED');

    let minted = 0;
    const sdk = new LiveReviewClient({
      targets: [server.address],
      sessionId: 'sec',
      userId: 'bea',
      token: () => (minted++, mint('bea', { sec: 'author' }, { ttl: 2 })),
      backoff: { baseDelayMs: 10, maxDelayMs: 50 },
    });
    const states: string[] = [];
    sdk.on('state', (s) => states.push(s));
    await sdk.connect();
    await new Promise((r) => setTimeout(r, 3500)); // past the first token's expiry
    const ack = await sdk.comment('f.ts', 1, 'still here');
    assert.ok(ack.sequence > 0);
    assert.ok(minted >= 2, `the SDK fetched fresh tokens (${minted})`);
    assert.ok(!states.includes('reconnecting'), `the stream was never interrupted: ${states.join(' ')}`);
    sdk.close();
  });

  it('ends a live stream whose token is revoked', async () => {
    const s = open(client, bearer(await mint('cid', { sec: 'author' }, { jti: 'token-to-revoke' })), 'sec');
    await s.got.waitFor(isCase('welcome'), 'welcome');
    writeFileSync(denylistFile, JSON.stringify({ tokens: ['token-to-revoke'], users: [] }));
    const ended = await s.got.waitForEnd('revocation');
    assert.equal(ended.code, grpc.status.UNAUTHENTICATED);
    assert.equal(decodeDetails(ended.metadata)?.errorInfo?.reason, 'TOKEN_REVOKED');
    const again = await unaryGetSession(
      client,
      bearer(await mint('cid', { sec: 'author' }, { jti: 'token-to-revoke' })),
      'sec',
    );
    assert.equal(again?.code, grpc.status.UNAUTHENTICATED);
    writeFileSync(denylistFile, JSON.stringify({ tokens: [], users: [] }));
  });

  it('throttles a flooding user with RetryInfo and QuotaFailure while another user is served', async () => {
    const flood = open(client, bearer(await mint('flood', { sec: 'author' })), 'sec');
    const calm = open(client, bearer(await mint('calm', { sec: 'author' })), 'sec');
    await flood.got.waitFor(isCase('welcome'), 'welcome');
    await calm.got.waitFor(isCase('welcome'), 'welcome');
    for (let i = 0; i < 100; i++) {
      flood.call.write(
        SessionMessage.fromPartial({
          clientMessageId: `f${i}`,
          payload: { $case: 'comment', value: { filePath: 'f.ts', lineNumber: 1, text: `spam ${i}` } },
        }),
      );
    }
    const limited = await flood.got.waitFor(isCase('error'), 'throttled');
    const d = decodeStatus(limited.payload.value.status!);
    assert.equal(d.code, grpc.status.RESOURCE_EXHAUSTED);
    assert.equal(d.errorInfo?.reason, 'RATE_LIMITED');
    assert.ok(d.retryInfo?.retryDelay, 'RetryInfo');
    assert.equal(d.quotaFailure?.violations[0]?.subject, 'user:flood');
    for (let i = 0; i < 5; i++) {
      calm.call.write(
        SessionMessage.fromPartial({
          clientMessageId: `c${i}`,
          payload: { $case: 'comment', value: { filePath: 'f.ts', lineNumber: 1, text: `calm ${i}` } },
        }),
      );
    }
    for (let i = 0; i < 5; i++)
      await calm.got.waitFor(
        (m) => isCase('ack')(m) && m.payload.value.clientMessageId === `c${i}`,
        `calm ${i} acknowledged`,
      );
    assert.ok(!calm.got.messages.some(isCase('error')), 'the other user is not throttled');
    flood.call.end();
    calm.call.end();
  });
});

describe('TLS and mTLS', () => {
  const certs = join(dir, 'certs');
  const pem = (name: string) => readFileSync(join(certs, name));
  before(() => {
    execFileSync('mkdir', ['-p', certs]);
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: certs, stdio: 'pipe' });
    writeFileSync(join(certs, 'san.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\n');
    for (const ca of ['ca', 'other-ca'])
      ossl(
        'req',
        '-x509',
        ...ec,
        '-keyout',
        `${ca}.key`,
        '-out',
        `${ca}.crt`,
        '-days',
        '1',
        '-subj',
        `/CN=${ca}`,
      );
    const issue = (name: string, ca: string, ext: string[] = []) => {
      ossl('req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${name}`);
      ossl(
        'x509',
        '-req',
        '-in',
        `${name}.csr`,
        '-CA',
        `${ca}.crt`,
        '-CAkey',
        `${ca}.key`,
        '-CAcreateserial',
        '-out',
        `${name}.crt`,
        '-days',
        '1',
        ...ext,
      );
    };
    issue('server', 'ca', ['-extfile', 'san.ext']);
    issue('client', 'ca');
    issue('stranger', 'other-ca');
  });

  const tlsConfig = (mtls: boolean) => ({
    logLevel: 'warn',
    tlsCertFile: join(certs, 'server.crt'),
    tlsKeyFile: join(certs, 'server.key'),
    tlsClientCaFile: mtls ? join(certs, 'ca.crt') : '',
  });
  const call = (address: string, creds: grpc.ChannelCredentials) => {
    const c = new CodeReviewServiceClient(address, creds);
    return new Promise<grpc.ServiceError | null>((resolve) =>
      c.openReview(
        { sessionId: 'tls', userId: 'u', clientMessageId: '', files: [{ path: 'a', text: '' }] },
        new grpc.Metadata(),
        { deadline: Date.now() + 5000 },
        (e) => {
          c.close();
          resolve(e);
        },
      ),
    );
  };

  it('serves TLS; a plaintext client fails cleanly', async () => {
    const server = await startTestServer(tlsConfig(false));
    assert.equal(
      await call(server.address, grpc.credentials.createSsl(pem('ca.crt'))),
      null,
      'TLS client works',
    );
    const plain = await call(server.address, grpc.credentials.createInsecure());
    assert.equal(plain?.code, grpc.status.UNAVAILABLE, 'plaintext against TLS fails with UNAVAILABLE');
    await server.shutdown(500);
  });

  it('requires a client certificate from its CA under mTLS, also on the metrics port', async () => {
    const server = await startTestServer(tlsConfig(true));
    const good = grpc.credentials.createSsl(pem('ca.crt'), pem('client.key'), pem('client.crt'));
    assert.equal(await call(server.address, good), null, 'a client certificate from the CA works');
    const none = await call(server.address, grpc.credentials.createSsl(pem('ca.crt')));
    assert.equal(none?.code, grpc.status.UNAVAILABLE, 'no client certificate is refused');
    const stranger = await call(
      server.address,
      grpc.credentials.createSsl(pem('ca.crt'), pem('stranger.key'), pem('stranger.crt')),
    );
    assert.equal(stranger?.code, grpc.status.UNAVAILABLE, 'a certificate from another CA is refused');
    const metrics = (key?: Buffer, cert?: Buffer) =>
      new Promise<number>((resolve) => {
        const req = request(
          { host: 'localhost', port: server.metricsPort, path: '/metrics', ca: pem('ca.crt'), key, cert },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        );
        req.on('error', () => resolve(-1));
        req.end();
      });
    assert.equal(await metrics(pem('client.key'), pem('client.crt')), 200);
    assert.equal(await metrics(), -1, 'metrics refuse a client without a certificate');
    await server.shutdown(500);
  });
});

describe('development mode and the token command', () => {
  it('refuses to serve without authentication on a non-loopback address unless --insecure', async () => {
    const refused = spawnSync(
      process.execPath,
      [
        bin,
        'serve',
        '--host',
        '0.0.0.0',
        '--port',
        '0',
        '--metrics-port',
        '-1',
        '--http-port',
        '-1',
        '--data',
        ':memory:',
      ],
      { encoding: 'utf8', timeout: 20_000 },
    );
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /refusing to serve 0\.0\.0\.0 without authentication/);
    const child = spawn(
      process.execPath,
      [
        bin,
        'serve',
        '--host',
        '0.0.0.0',
        '--port',
        '0',
        '--metrics-port',
        '-1',
        '--http-port',
        '-1',
        '--data',
        ':memory:',
        '--insecure',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (b: Buffer) => {
        out += b.toString();
        if (out.includes('listening on') && out.includes('DEVELOPMENT MODE')) resolve();
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      child.once('exit', (code) => reject(new Error(`exited ${code}: ${out}`)));
    });
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  });

  it('mints a token on its last line that the server accepts for that user, session and role', async () => {
    const r = spawnSync(
      process.execPath,
      [
        bin,
        'token',
        '--secret-file',
        secretFile,
        '--user',
        'dee',
        '--session',
        'tok',
        '--role',
        'reviewer',
        '--ttl',
        '10m',
      ],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 0, r.stderr);
    const token = r.stdout.trim().split('\n').pop()!;
    const server = await startTestServer({ logLevel: 'warn', authSecretFile: secretFile });
    const c = new CodeReviewServiceClient(server.address, grpc.credentials.createInsecure());
    const s = open(c, bearer(token), 'tok');
    const welcome = await s.got.waitFor(isCase('welcome'), 'welcome');
    assert.equal(welcome.payload.value.roster[0]?.userId, 'dee');
    s.call.write(
      SessionMessage.fromPartial({
        clientMessageId: 'e',
        payload: {
          $case: 'edit',
          value: { filePath: 'x', version: 0, operations: [{ kind: { $case: 'insert', value: 'a' } }] },
        },
      }),
    );
    const refused = await s.got.waitFor(isCase('error'), 'a reviewer may not edit');
    assert.equal(decodeStatus(refused.payload.value.status!).errorInfo?.reason, 'ROLE_FORBIDS');
    s.call.end();
    c.close();
    await server.shutdown(500);
  });
});

describe('security: grants from a policy hook', () => {
  const grants = new Map<string, Role>();
  let server: TestServer;
  let client: CodeReviewServiceClient;
  before(async () => {
    server = await startTestServer(
      { logLevel: 'warn', authSecretFile: secretFile, authDenylistFile: denylistFile, authRecheckMs: 100 },
      { sessionPolicy: (principal) => grants.get(principal.userId) },
    );
    client = new CodeReviewServiceClient(server.address, grpc.credentials.createInsecure());
  });
  after(async () => {
    client.close();
    await server.shutdown(500);
  });

  it('applies a changed grant to a live stream: a demoted author is refused edits, a removed one is cut off', async () => {
    grants.set('pat', 'author');
    const token = await mint('pat', {}); // the token names no session: the hook decides
    await new Promise<void>((resolve, reject) =>
      client.openReview(
        { sessionId: 'hooked', userId: '', clientMessageId: 'o', files: [{ path: 'f', text: 'x\n' }] },
        bearer(token),
        (e) => (e ? reject(e) : resolve()),
      ),
    );
    const s = open(client, bearer(token), 'hooked');
    await s.got.waitFor(isCase('welcome'), 'welcome');
    const edit = (id: string) =>
      s.call.write(
        SessionMessage.fromPartial({
          clientMessageId: id,
          payload: {
            $case: 'edit',
            value: { filePath: 'f', version: 0, operations: [{ kind: { $case: 'insert', value: 'a' } }] },
          },
        }),
      );
    edit('as-author');
    await s.got.waitFor(
      (m) => isCase('ack')(m) && m.payload.value.clientMessageId === 'as-author',
      'ack as author',
    );

    grants.set('pat', 'viewer');
    await new Promise((r) => setTimeout(r, 400)); // a few --auth-recheck-ms
    edit('as-viewer');
    const refused = await s.got.waitFor(
      (m) => isCase('error')(m) && m.payload.value.clientMessageId === 'as-viewer',
      'the edit refused once demoted',
    );
    const status = decodeStatus(
      (refused as SessionMessage & { payload: { $case: 'error' } }).payload.value.status!,
    );
    assert.equal(status.code, grpc.status.PERMISSION_DENIED);
    assert.equal(status.errorInfo?.reason, 'ROLE_FORBIDS');

    grants.delete('pat');
    const ended = await s.got.waitForEnd('the stream to end once the grant is gone', 5000);
    assert.equal(ended.code, grpc.status.PERMISSION_DENIED);
    assert.equal(decodeDetails(ended.metadata)?.errorInfo?.reason, 'SESSION_FORBIDDEN');
  });
});

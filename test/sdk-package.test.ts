// The SDK is a package of its own: packed, installed into an empty project it brings no native
// dependency, and every example of docs/sdk.md runs against a real server.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { serverFixture } from './helpers/server.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

describe('@livereview/client package', () => {
  const fx = serverFixture();

  it('installs without the server native dependencies and runs every documented example', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'lr-sdk-pkg-'));
    try {
      const tarball = execFileSync(
        'npm',
        ['pack', '--silent', '--pack-destination', dir, join(root, 'packages/client')],
        { encoding: 'utf8' },
      )
        .trim()
        .split('\n')
        .pop()!;
      const app = join(dir, 'app');
      mkdirSync(app);
      writeFileSync(
        join(app, 'package.json'),
        JSON.stringify({ name: 'app', private: true, type: 'module' }),
      );
      const install = spawnSync(
        'npm',
        ['install', '--prefer-offline', '--no-audit', '--no-fund', join(dir, tarball)],
        { cwd: app, encoding: 'utf8' },
      );
      assert.equal(install.status, 0, install.stderr);
      assert.ok(existsSync(join(app, 'node_modules/@livereview/client/dist/client/index.js')));
      assert.ok(existsSync(join(app, 'node_modules/@grpc/grpc-js')));
      assert.ok(!existsSync(join(app, 'node_modules/better-sqlite3')), 'no native server dependency');
      const core = spawnSync(
        process.execPath,
        [
          '--input-type=module',
          '-e',
          "const m = await import('@livereview/client/core'); console.log(typeof m.SessionClient, typeof m.LiveReviewClient)",
        ],
        { cwd: app, encoding: 'utf8' },
      );
      assert.equal(core.stdout.trim(), 'function undefined', `the browser-safe entry: ${core.stderr}`);

      const examples = [
        ...readFileSync(join(root, 'docs/sdk.md'), 'utf8').matchAll(/```js\n([\s\S]*?)```/g),
      ].map((m) => m[1]!);
      assert.ok(examples.length >= 3, `found ${examples.length} examples`);
      // The server runs in this process: run the examples asynchronously so it can answer them.
      for (const [i, code] of examples.entries()) {
        const file = join(app, `example-${i + 1}.mjs`);
        writeFileSync(file, code);
        const run = await new Promise<{ code: number | null; out: string }>((resolve) => {
          const child = spawn(process.execPath, [file], {
            cwd: app,
            env: { ...process.env, LIVEREVIEW_TARGET: fx.server.address },
          });
          let out = '';
          child.stdout.on('data', (b: Buffer) => (out += b.toString()));
          child.stderr.on('data', (b: Buffer) => (out += b.toString()));
          const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
          child.once('exit', (code) => {
            clearTimeout(timer);
            resolve({ code, out });
          });
        });
        assert.equal(run.code, 0, `example ${i + 1} failed:\n${run.out}`);
        assert.ok(run.out.trim().length > 0, `example ${i + 1} printed nothing`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

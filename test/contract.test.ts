// The contract stays wire-compatible with the seed: buf lint and buf breaking pass, and the
// breaking check itself is shown to catch a breaking edit.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { REASONS } from '../src/core/errors.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const buf = join(root, 'node_modules/.bin/buf');

function run(args: string[], cwd = root) {
  const r = spawnSync(buf, args, { cwd, encoding: 'utf8' });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('the contract', () => {
  it('passes buf lint', () => {
    const r = run(['lint']);
    assert.equal(r.code, 0, r.out);
  });

  it('is wire-compatible with the frozen seed .proto (buf breaking)', () => {
    const r = run(['breaking', 'proto', '--against', 'proto/baseline']);
    assert.equal(r.code, 0, r.out);
  });

  it('buf breaking fails on a copy whose seed field was renumbered', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lr-breaking-'));
    try {
      cpSync(join(root, 'proto'), join(dir, 'proto'), { recursive: true });
      cpSync(join(root, 'buf.yaml'), join(dir, 'buf.yaml'));
      const file = join(dir, 'proto/codereview/v1/codereview.proto');
      const original = readFileSync(file, 'utf8');
      const edited = original.replace(/(message Comment \{[\s\S]*?)string text = 3;/, '$1string text = 30;');
      assert.notEqual(edited, original, 'the test edit applies');
      writeFileSync(file, edited);
      const r = run(['breaking', 'proto', '--against', 'proto/baseline'], dir);
      assert.notEqual(r.code, 0, 'a renumbered seed field must fail the check');
      assert.match(r.out, /"text"/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('documents every error reason in docs/errors.md', () => {
    const doc = readFileSync(join(root, 'docs/errors.md'), 'utf8');
    for (const reason of Object.keys(REASONS)) {
      assert.match(doc, new RegExp(`\\| \`${reason}\` \\|`), `${reason} is documented`);
    }
  });
});

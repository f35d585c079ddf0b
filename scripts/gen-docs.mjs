// Regenerates the tables in docs/errors.md and the README's configuration section from the code
// (src/core/errors.ts, src/server/config.ts), between the <!-- BEGIN x --> / <!-- END x --> marks.
import { readFileSync, writeFileSync } from 'node:fs';
import { REASONS, httpStatusOf, Code } from '../dist/src/core/errors.js';
import { OPTIONS, envOf, flagOf } from '../dist/src/server/config.js';

const codeName = Object.fromEntries(Object.entries(Code).map(([k, v]) => [v, k]));
const retryable = new Set([Code.UNAVAILABLE, Code.RESOURCE_EXHAUSTED, Code.ABORTED]);

const errors = [
  '| reason | gRPC code | HTTP | retry? | what the client should do |',
  '| --- | --- | --- | --- | --- |',
  ...Object.entries(REASONS).map(
    ([reason, s]) =>
      `| \`${reason}\` | ${codeName[s.code]} | ${httpStatusOf(s.code)} | ${retryable.has(s.code) ? 'yes, with backoff' : 'no'} | ${s.advice} |`,
  ),
].join('\n');

const config = [
  '| flag | environment | default | what | why this default |',
  '| --- | --- | --- | --- | --- |',
  ...OPTIONS.map(
    (o) =>
      `| \`${flagOf(o.key)}\` | \`${envOf(o.key)}\` | \`${String(o.default)}\` | ${o.description} | ${o.why} |`,
  ),
].join('\n');

function splice(file, name, table) {
  const text = readFileSync(file, 'utf8');
  const re = new RegExp(`(<!-- BEGIN ${name} -->\\n)[\\s\\S]*?(<!-- END ${name} -->)`);
  if (!re.test(text)) throw new Error(`${file}: no ${name} markers`);
  writeFileSync(file, text.replace(re, `$1${table}\n$2`));
}

splice('docs/errors.md', 'errors', errors);
splice('README.md', 'config', config);

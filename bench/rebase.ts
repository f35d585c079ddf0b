// What the server pays to bring a keystroke made against an older version up to the current one
// (FileDocument.rebase): through L keystrokes committed since, by the OT library's transform step
// by step against by position arithmetic (src/ot/one-place.ts), in one run. L is how far behind the
// client was: ~20 versions in a busy session at a normal latency, up to twice --history-versions
// (2,000 by default) when the server falls behind. Run: npm run bench:rebase
import { cpus } from 'node:os';
import { FileDocument } from '../src/core/document.js';
import { transformOp, type TextOp } from '../src/ot/text.js';
import { microsPerCall } from './micro-timing.js';

const N = Number(process.env.N ?? 2000);

console.log(`${new Date().toISOString()} node ${process.version}, ${cpus()[0]?.model ?? '?'}, N=${N}\n`);
console.log('| versions behind | library, step by step µs | position arithmetic µs | ratio |');
console.log('| --- | --- | --- | --- |');
for (const behind of [1, 20, 200, 1000, 2000]) {
  // A session's typing: characters and line breaks at spread positions, a backspace now and then.
  const doc = new FileDocument('f', 'x'.repeat(2000), 0, 4000);
  const history: TextOp[] = [];
  for (let v = 0; v < behind; v++) {
    const at = 1 + ((v * 37) % (doc.codePoints - 1));
    const op: TextOp = v % 10 === 9 ? [at, { d: 1 }] : [at, v % 50 === 49 ? '\n' : 'y'];
    history.push(op);
    doc.apply(op);
  }
  const mine = (i: number): TextOp => [1 + ((i * 13) % 1500), 'z'];
  let sink = 0;
  const library = microsPerCall(N, (i) => {
    let op = mine(i);
    for (const h of history) op = transformOp(op, h, 'left');
    sink += op.length;
  });
  const arithmetic = microsPerCall(N, (i) => {
    sink += doc.rebase(mine(i), 0).length;
  });
  console.log(
    `| ${behind} | ${library.toFixed(2)} | ${arithmetic.toFixed(2)} | ${(arithmetic / library).toFixed(3)} |`,
  );
  if (sink < 0) console.log(sink);
}

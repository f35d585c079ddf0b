// What the server pays to turn offsets into lines on files of several sizes, with the file's line
// index (FileDocument, src/ot/line-starts.ts) against walking the text (src/ot/lines.ts), in one
// run: per edit (apply the op, then the line it changed, as every logged edit needs) and per cursor
// move (its line and column to broadcast, and back to an offset), and per line edit of a seed
// client (the op replacing a line). Near the end of the file, which is where walking costs most. Run: npm run bench:lines
import { cpus } from 'node:os';
import { FileDocument } from '../src/core/document.js';
import { changedLines, offsetOf, positionOf, replaceLineOp } from '../src/ot/lines.js';
import { applyOp, type TextOp } from '../src/ot/text.js';
import { microsPerCall } from './micro-timing.js';

const N = Number(process.env.N ?? 3000);

function fileOf(lines: number): string {
  return (
    Array.from({ length: lines }, (_, i) => `    const value${i} = compute(${i}); // line ${i}`).join('\n') +
    '\n'
  );
}

console.log(`${new Date().toISOString()} node ${process.version}, ${cpus()[0]?.model ?? '?'}, N=${N}\n`);
console.log(
  '| file | per edit: walking | per edit: line index | per cursor move: walking | per cursor move: line index ' +
    '| per line edit: walking | per line edit: line index |',
);
console.log('| --- | --- | --- | --- | --- | --- | --- |');
for (const lines of [100, 1000, 5000]) {
  const initial = fileOf(lines);
  // Walking: the text as a string, the line of the edit counted from the start.
  let text = initial;
  let pos = text.length - 200;
  const editWalking = microsPerCall(N, () => {
    const op: TextOp = [pos++, 'x'];
    text = applyOp(text, op, true);
    changedLines(text, op, false);
  });
  const cursorWalking = microsPerCall(N, (i) => {
    const at = positionOf(text, pos - (i % 50));
    offsetOf(text, at.line, at.column);
  });
  // The line index: the same edits through a FileDocument.
  const doc = new FileDocument('f', initial, 0, 100);
  pos = initial.length - 200;
  const editIndexed = microsPerCall(N, () => {
    const op: TextOp = [pos++, 'x'];
    doc.apply(op);
    doc.changedLines(op);
  });
  const cursorIndexed = microsPerCall(N, (i) => {
    const at = doc.positionOf(pos - (i % 50));
    doc.offsetOf(at.line, at.column);
  });
  // A seed client's line edit names a line: the op that replaces it.
  const lineEditWalking = microsPerCall(N, (i) => replaceLineOp(doc.text, lines - (i % 50), 'changed'));
  const lineEditIndexed = microsPerCall(N, (i) => doc.replaceLineOp(lines - (i % 50), 'changed'));
  const f = (us: number) => `${us.toFixed(1)} µs`;
  const ratio = (a: number, b: number) => `(${(a / b).toFixed(a / b < 0.01 ? 4 : 2)}x)`;
  console.log(
    `| ${lines} lines, ${(initial.length / 1024).toFixed(0)} KB | ${f(editWalking)} | ${f(editIndexed)} ` +
      `${ratio(editIndexed, editWalking)} | ${f(cursorWalking)} | ${f(cursorIndexed)} ` +
      `${ratio(cursorIndexed, cursorWalking)} | ${f(lineEditWalking)} | ${f(lineEditIndexed)} ` +
      `${ratio(lineEditIndexed, lineEditWalking)} |`,
  );
}

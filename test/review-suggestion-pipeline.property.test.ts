// Suggestions through the real pipeline (the engine: validate -> transform -> apply -> commit, a
// memory store), over random edits above, inside and below the suggested lines, at their edges,
// concurrent in one batch and made at stale versions, with the suggestion itself sometimes made at
// a stale version and its application sometimes concurrent with edits. Every character is tracked
// by identity (an oracle independent of the engine's anchors): the suggestion is applied exactly
// when its original characters are all still there, side by side, as whole lines; then the
// result is those lines replaced and nothing else touched. Otherwise it is refused
// SUGGESTION_CONFLICT, and the thread shows it conflicting. Never applied to other lines.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { LiveReviewError } from '../src/core/errors.js';
import type { Origin } from '../src/core/model.js';
import { MemoryStore } from '../src/store/memory/memory-store.js';
import { testEngine } from './helpers/engine.js';
import { applyOp, type TextOp } from '../src/ot/text.js';
import { replacementFromLines, suggestionTarget } from '../src/review/suggestion.js';

const RUNS = 300;
const PATH = 'f.txt';

type Region = 'above' | 'inside' | 'below' | 'start' | 'end' | 'anywhere';
interface EditPlan {
  region: Region;
  kind: 'insert' | 'delete' | 'replace';
  text: string;
  length: number;
  /** How many versions behind the newest known one the edit is made. */
  lag: number;
  /** Where in its region, as a fraction. */
  at: number;
}

const word = fc.string({ unit: fc.constantFrom('a', 'b', ' ', '{', '😀'), maxLength: 6 });
const editPlan: fc.Arbitrary<EditPlan> = fc.record({
  region: fc.constantFrom<Region>('above', 'inside', 'below', 'start', 'end', 'anywhere'),
  kind: fc.constantFrom('insert', 'delete', 'replace'),
  text: fc.string({ unit: fc.constantFrom('x', 'y', '\n', '\r\n', '😀', ' '), minLength: 1, maxLength: 4 }),
  length: fc.integer({ min: 1, max: 6 }),
  lag: fc.nat({ max: 3 }),
  at: fc.double({ min: 0, max: 1, noNaN: true }),
});
const plan = fc.record({
  lines: fc.array(word, { minLength: 2, maxLength: 9 }),
  finalNewline: fc.boolean(),
  start: fc.nat(),
  span: fc.nat({ max: 3 }),
  replacement: fc.array(word, { maxLength: 3 }),
  preEdits: fc.array(editPlan, { maxLength: 3 }),
  suggestAtStale: fc.boolean(),
  groups: fc.array(fc.array(editPlan, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 3 }),
  applyWithLastGroup: fc.boolean(),
});

/** The file's text and the identity of each of its code points, at every version. */
class Tracker {
  texts: string[][] = [];
  ids: number[][] = [];
  private nextId = 1;

  open(text: string): void {
    const cps = Array.from(text);
    this.texts[0] = cps;
    this.ids[0] = cps.map(() => this.nextId++);
  }

  commit(version: number, op: TextOp): void {
    const text = this.texts[version - 1]!;
    const ids = this.ids[version - 1]!;
    const outText: string[] = [];
    const outIds: number[] = [];
    let i = 0;
    for (const c of op) {
      if (typeof c === 'number') {
        outText.push(...text.slice(i, i + c));
        outIds.push(...ids.slice(i, i + c));
        i += c;
      } else if (typeof c === 'string') {
        for (const cp of Array.from(c)) {
          outText.push(cp);
          outIds.push(this.nextId++);
        }
      } else {
        i += typeof c.d === 'number' ? c.d : Array.from(c.d).length;
      }
    }
    outText.push(...text.slice(i));
    outIds.push(...ids.slice(i));
    assert.equal(outText.join(''), applyOp(text.join(''), op), 'the tracker applies ops as the engine does');
    this.texts[version] = outText;
    this.ids[version] = outIds;
  }

  get version(): number {
    return this.texts.length - 1;
  }
}

/** Whether [start, end) of `text` is whole lines: it starts a line, and after it comes nothing, or
 * a line break that leaves the last line's text as it was (a "\n" right after a line ending in
 * "\r" would make "\r\n" its terminator). */
function wholeLines(text: readonly string[], start: number, end: number, originalText: string): boolean {
  const startsLine = start === 0 || text[start - 1] === '\n';
  const endsLine =
    originalText.endsWith('\n') ||
    end === text.length ||
    (text[end] === '\r' && text[end + 1] === '\n') ||
    (text[end] === '\n' && !originalText.endsWith('\r'));
  return startsLine && endsLine;
}

/** Where the original characters are, when all are still there side by side as whole lines. */
function intactWholeLines(
  text: readonly string[],
  ids: readonly number[],
  originalIds: readonly number[],
  originalText: string,
): { start: number; end: number } | undefined {
  const start = ids.indexOf(originalIds[0]!);
  if (start < 0) return undefined;
  for (let k = 0; k < originalIds.length; k++) if (ids[start + k] !== originalIds[k]) return undefined;
  const end = start + originalIds.length;
  return wholeLines(text, start, end, originalText) ? { start, end } : undefined;
}

/**
 * The documented rule (docs/contract.md): a suggestion applies while its range, as the server
 * moves it, holds exactly the original text as whole lines. Lines whose characters are all the
 * original ones (intactWholeLines) always satisfy it; so do lines where an edit replaced
 * characters by the same characters (a "\n" deleted and typed again). So that "never the wrong
 * lines" stays checked, the range must also hold every original character still in the text.
 */
function holdsOriginal(
  text: readonly string[],
  ids: readonly number[],
  originalIds: readonly number[],
  originalText: string,
  start: number,
  end: number,
): boolean {
  if (start < 0 || end > text.length || text.slice(start, end).join('') !== originalText) return false;
  if (!wholeLines(text, start, end, originalText)) return false;
  return originalIds.every((id) => {
    const i = ids.indexOf(id);
    return i < 0 || (i >= start && i < end);
  });
}

/** Replays one case: LIVEREVIEW_FC_SEED and LIVEREVIEW_FC_PATH from a failure's report. */
function replay(): { seed?: number; path?: string; endOnFailure?: boolean } {
  const seed = process.env.LIVEREVIEW_FC_SEED;
  return seed ? { seed: Number(seed), path: process.env.LIVEREVIEW_FC_PATH, endOnFailure: true } : {};
}

/** A code point range of the text at some version for an edit's region. */
function regionOf(
  region: Region,
  length: number,
  located: { first: number; last: number } | undefined,
): [number, number] {
  if (!located || region === 'anywhere') return [0, length];
  const { first, last } = located;
  switch (region) {
    case 'above':
      return [0, first];
    case 'inside':
      return [first, last + 1];
    case 'below':
      return [last + 1, length];
    case 'start':
      return [first, first];
    case 'end':
      return [last + 1, last + 1];
  }
}

function opFor(
  e: EditPlan,
  text: readonly string[],
  located: { first: number; last: number } | undefined,
): TextOp {
  const [lo, hi] = regionOf(e.region, text.length, located);
  const p = Math.min(text.length, lo + Math.floor(e.at * (hi - lo + 1)));
  const del = Math.min(e.length, text.length - p);
  const kind = del === 0 ? 'insert' : e.kind;
  const op: TextOp = p > 0 ? [p] : [];
  if (kind !== 'insert') op.push({ d: del });
  if (kind !== 'delete') op.push(e.text);
  return op;
}

describe('suggestions through the pipeline (property)', () => {
  it(`applies a suggestion exactly when its lines are intact, else refuses it, whatever edits came (${RUNS} runs)`, async () => {
    const store = new MemoryStore();
    const engine = testEngine({ store, config: { snapshotEvery: 20, dedupeWindow: 10_000 } });
    let run = 0;
    let applied = 0;
    let refused = 0;
    try {
      await fc.assert(
        fc.asyncProperty(plan, async (p) => {
          const sessionId = `s${++run}`;
          let messages = 0;
          const author = (): Origin => ({
            userId: 'ann',
            clientId: 'ann',
            clientMessageId: `m${++messages}`,
          });
          const text = p.lines.join('\n') + (p.finalNewline ? '\n' : '');
          const tracker = new Tracker();
          tracker.open(text);
          await engine.openReview(sessionId, author(), [{ path: PATH, text }], 'author');
          /** Reads what was committed since the tracker's version. */
          const sync = async () => {
            for (const e of await store.readEvents(sessionId, 0, 100_000)) {
              const c = e.change;
              if ((c.kind === 'edit' || c.kind === 'suggestion_applied') && c.version > tracker.version) {
                assert.equal(c.version, tracker.version + 1);
                tracker.commit(c.version, c.op);
              }
            }
          };
          // The lines the suggestion is about: from the text as opened, wherever they went.
          const lineCount = p.lines.length;
          const startLine = 1 + (p.start % lineCount);
          const endLine = Math.min(lineCount, startLine + p.span);
          let originalIds: number[] | undefined = undefined;
          const planned = suggestionTarget(text, startLine, endLine)!;
          const plannedIds = tracker.ids[0]!.slice(planned.anchor.start, planned.anchor.end);
          const locate = (v: number) => {
            const ids = tracker.ids[v]!;
            const positions = (originalIds ?? plannedIds).map((id) => ids.indexOf(id)).filter((i) => i >= 0);
            return positions.length > 0
              ? { first: Math.min(...positions), last: Math.max(...positions) }
              : undefined;
          };
          const submitEdit = (e: EditPlan) => {
            const base = Math.max(0, tracker.version - e.lag);
            const op = opFor(e, tracker.texts[base]!, locate(base));
            return engine.submitUnary(
              sessionId,
              author(),
              { kind: 'edit', path: PATH, baseVersion: base, op },
              'author',
            );
          };

          // Edits before the suggestion; it is made on the text now, or on the text as opened.
          for (const e of p.preEdits) await submitEdit(e);
          await sync();
          const at = p.suggestAtStale ? 0 : tracker.version;
          const target = suggestionTarget(tracker.texts[at]!.join(''), startLine, endLine);
          if (!target || target.originalText === '') return; // the lines are gone at that version
          originalIds = tracker.ids[at]!.slice(target.anchor.start, target.anchor.end);
          const replacement = replacementFromLines(p.replacement, target.originalText);
          const made = await engine.submitUnary(
            sessionId,
            { userId: 'rev', clientId: 'rev', clientMessageId: 'suggestion' },
            {
              kind: 'comment',
              action: 'create',
              commentId: 'sg',
              path: PATH,
              line: endLine,
              version: at,
              text: 'try this',
              parentId: '',
              suggestion: { startLine, endLine, replacement, originalText: '' },
            },
            'reviewer',
          );
          assert.equal(made.commentId, 'sg');

          // Edits after it, each group concurrent (one batch), the application last.
          const apply = () =>
            engine
              .submitUnary(sessionId, author(), { kind: 'apply_suggestion', commentId: 'sg' }, 'author')
              .then(
                (ack) => ({ ack }),
                (err: unknown) => ({ err }),
              );
          let outcome: Awaited<ReturnType<typeof apply>> | undefined;
          for (const [g, group] of p.groups.entries()) {
            const last = g === p.groups.length - 1;
            const edits = group.map(submitEdit);
            if (last && p.applyWithLastGroup) {
              const applying = apply();
              await Promise.all(edits);
              outcome = await applying;
            } else {
              await Promise.all(edits);
            }
            await sync();
          }
          if (!outcome) {
            // Alone: the thread shows the status the application will meet.
            const oracle = intactWholeLines(
              tracker.texts.at(-1)!,
              tracker.ids.at(-1)!,
              originalIds,
              target.originalText,
            );
            const shown = (await engine.getSession(sessionId, { size: 1000, token: '' })).comments.find(
              (c) => c.id === 'sg',
            )!;
            const now = tracker.texts.at(-1)!;
            const holds =
              oracle !== undefined ||
              holdsOriginal(
                now,
                tracker.ids.at(-1)!,
                originalIds,
                target.originalText,
                shown.suggestionStart ?? -1,
                shown.suggestionEnd ?? -1,
              );
            assert.equal(shown.suggestionStatus?.status, holds ? 'pending' : 'conflicting');
            outcome = await apply();
          }
          await sync();

          if ('ack' in outcome) {
            applied++;
            const version = outcome.ack.version;
            assert.equal(version, tracker.version, 'the application is the last edit');
            const before = tracker.texts[version - 1]!;
            const after = tracker.texts[version]!.join('');
            const replaced = (start: number, end: number) =>
              before.slice(0, start).join('') + replacement + before.slice(end).join('');
            const where = intactWholeLines(
              before,
              tracker.ids[version - 1]!,
              originalIds,
              target.originalText,
            );
            if (where) {
              assert.equal(
                after,
                replaced(where.start, where.end),
                'those lines replaced, nothing else touched',
              );
            } else {
              // Not the original characters, but lines holding exactly their text where the
              // original ones were (see holdsOriginal): some such range was replaced, nothing else.
              const length = originalIds.length;
              const candidates = [...before.keys()].filter(
                (start) =>
                  holdsOriginal(
                    before,
                    tracker.ids[version - 1]!,
                    originalIds,
                    target.originalText,
                    start,
                    start + length,
                  ) && after === replaced(start, start + length),
              );
              assert.ok(candidates.length > 0, 'applied only to lines holding exactly the original text');
            }
            const thread = (await engine.getSession(sessionId, { size: 1000, token: '' })).comments.find(
              (c) => c.id === 'sg',
            )!;
            assert.equal(thread.suggestionStatus?.status, 'applied');
            assert.equal(thread.state, 'resolved');
          } else {
            refused++;
            const err = outcome.err;
            assert.ok(err instanceof LiveReviewError && err.reason === 'SUGGESTION_CONFLICT', String(err));
            const now = tracker.texts.at(-1)!;
            assert.equal(
              intactWholeLines(now, tracker.ids.at(-1)!, originalIds, target.originalText),
              undefined,
              `refused (${err.message}) although its lines are intact`,
            );
            const thread = (await engine.getSession(sessionId, { size: 1000, token: '' })).comments.find(
              (c) => c.id === 'sg',
            )!;
            assert.equal(thread.suggestionStatus?.status, 'conflicting');
          }
        }),
        { numRuns: RUNS, ...replay() },
      );
    } finally {
      await engine.close(new LiveReviewError('SERVER_SHUTTING_DOWN', 'test over'));
      await store.close();
    }
    // Both outcomes were exercised, not one of them by accident only (a replayed case is one run).
    // Of 300 runs ~45 apply (35-61 in 16 runs of the test); a bound of 30 failed once in a full
    // suite run with 25, so the bound is 15: four standard deviations below the mean.
    if (!replay().seed)
      assert.ok(applied > RUNS / 20 && refused > RUNS / 20, `applied ${applied}, refused ${refused}`);
  });
});

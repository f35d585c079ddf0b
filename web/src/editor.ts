// The file editor: CodeMirror 6 kept equal to the SDK's text of one file. Local typing goes to the
// SDK as code point operations; remote edits come in as CodeMirror transactions, so the local
// cursor and selection map through them (and they stay out of the local undo history).
import { defaultKeymap, history, historyKeymap } from '@codemirror/commands';
import { bracketMatching, defaultHighlightStyle, syntaxHighlighting } from '@codemirror/language';
import {
  Annotation,
  Compartment,
  EditorState,
  Transaction,
  type ChangeSpec,
  type Text,
} from '@codemirror/state';
import {
  EditorView,
  drawSelection,
  highlightActiveLine,
  highlightActiveLineGutter,
  keymap,
  lineNumbers,
} from '@codemirror/view';
import type { TextOp } from '../../src/client/browser.js';
import { changesToOp, lineColumnOf, offsetOf, opToChanges } from './code-points.js';
import {
  reviewDecorations,
  setBaseChanges,
  type BaseChanges,
  setCommentLines,
  setRemoteCursors,
  type RemoteCursor,
} from './decorations.js';
import { languageFor } from './languages.js';

/** Marks a transaction that brings in what the SDK already has (not to be sent back). */
const fromSdk = Annotation.define<boolean>();

export interface EditorHooks {
  /** The user changed the text: `op` in code points on the text before the change. */
  onLocalEdit(op: TextOp): void;
  /** The cursor moved (1-based line, code point column). */
  onCursor(line: number, column: number): void;
  /** A comment marker in the gutter was clicked. */
  onCommentMarker(line: number): void;
}

export class FileEditor {
  readonly view: EditorView;
  private readonly language = new Compartment();
  private readonly editable = new Compartment();
  private readonly label = new Compartment();
  private path = '';

  constructor(
    parent: HTMLElement,
    private readonly hooks: EditorHooks,
  ) {
    this.view = new EditorView({ parent, state: this.stateFor('', '', false) });
  }

  private stateFor(path: string, text: string, readOnly: boolean): EditorState {
    return EditorState.create({
      doc: text,
      extensions: [
        lineNumbers(),
        highlightActiveLineGutter(),
        highlightActiveLine(),
        drawSelection(),
        history(),
        bracketMatching(),
        syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
        // No Tab binding: Tab leaves the editor, so keyboard users can reach the other controls.
        keymap.of([...defaultKeymap, ...historyKeymap]),
        this.language.of([]),
        this.editable.of(editability(readOnly)),
        this.label.of(labelFor(path, readOnly)),
        reviewDecorations((line) => this.hooks.onCommentMarker(line)),
        EditorView.updateListener.of((update) => {
          for (const tr of update.transactions) {
            if (tr.docChanged && !tr.annotation(fromSdk))
              this.hooks.onLocalEdit(changesToOp(tr.changes, tr.startState.doc));
          }
          if (update.selectionSet || update.docChanged) {
            const { line, column } = lineColumnOf(update.state.doc, update.state.selection.main.head);
            this.hooks.onCursor(line, column);
          }
        }),
      ],
    });
  }

  get currentPath(): string {
    return this.path;
  }

  get doc(): Text {
    return this.view.state.doc;
  }

  /** Shows another file (or the same one afresh). */
  open(path: string, text: string, readOnly: boolean): void {
    this.path = path;
    this.view.setState(this.stateFor(path, text, readOnly));
    languageFor(path).then(
      (language) => {
        if (this.path === path) this.view.dispatch({ effects: this.language.reconfigure(language) });
      },
      () => undefined, // not highlighted: the text is still there
    );
  }

  setReadOnly(readOnly: boolean): void {
    this.view.dispatch({
      effects: [
        this.editable.reconfigure(editability(readOnly)),
        this.label.reconfigure(labelFor(this.path, readOnly)),
      ],
    });
  }

  /** Applies an edit the SDK received (code points, on the text the editor shows). */
  applyRemote(op: TextOp): void {
    this.dispatchFromSdk(opToChanges(this.view.state.doc, op));
  }

  /** Makes the editor show `text` (after a snapshot, a resync, a rollback) with the smallest change,
   * so the cursor stays where it was when its part of the text did not change. */
  replaceText(text: string): void {
    const current = this.view.state.doc.toString();
    if (current === text) return;
    let start = 0;
    const max = Math.min(current.length, text.length);
    while (start < max && current.charCodeAt(start) === text.charCodeAt(start)) start++;
    let end = 0;
    while (
      end < max - start &&
      current.charCodeAt(current.length - 1 - end) === text.charCodeAt(text.length - 1 - end)
    )
      end++;
    this.dispatchFromSdk([
      { from: start, to: current.length - end, insert: text.slice(start, text.length - end) },
    ]);
  }

  private dispatchFromSdk(changes: ChangeSpec[]): void {
    this.view.dispatch({
      changes,
      annotations: [fromSdk.of(true), Transaction.addToHistory.of(false), Transaction.remote.of(true)],
    });
  }

  setCursors(
    cursors: { participantId: string; name: string; color: string; line: number; column: number }[],
  ): void {
    const doc = this.view.state.doc;
    const positioned: RemoteCursor[] = cursors.map((c) => ({ ...c, pos: offsetOf(doc, c.line, c.column) }));
    this.view.dispatch({ effects: setRemoteCursors.of(positioned) });
  }

  setCommentLines(lines: Map<number, number>): void {
    this.view.dispatch({ effects: setCommentLines.of(lines) });
  }

  setBaseChanges(changes: BaseChanges): void {
    this.view.dispatch({ effects: setBaseChanges.of(changes) });
  }

  /** The 1-based line of the main cursor. */
  get cursorLine(): number {
    return this.view.state.doc.lineAt(this.view.state.selection.main.head).number;
  }

  /** The lines of the main selection (1-based, inclusive) and their text without the last break. */
  selectedLines(): { start: number; end: number; text: string } {
    const { doc, selection } = this.view.state;
    const first = doc.lineAt(selection.main.from);
    let last = doc.lineAt(selection.main.to);
    // A selection that ends at the start of a line does not take that line.
    if (last.number > first.number && selection.main.to === last.from) last = doc.line(last.number - 1);
    return { start: first.number, end: last.number, text: doc.sliceString(first.from, last.to) };
  }

  /** Moves the cursor to the start of `line` and scrolls it into view. */
  goToLine(line: number): void {
    const doc = this.view.state.doc;
    const pos = doc.line(Math.min(Math.max(line, 1), doc.lines)).from;
    this.view.dispatch({ selection: { anchor: pos }, scrollIntoView: true });
    this.view.focus();
  }
}

function editability(readOnly: boolean) {
  return [EditorState.readOnly.of(readOnly), EditorView.editable.of(!readOnly)];
}

function labelFor(path: string, readOnly: boolean) {
  return EditorView.contentAttributes.of({
    'aria-label': `${path || 'No file'}${readOnly ? ' (read-only)' : ''}`,
  });
}

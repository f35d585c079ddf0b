// What the editor shows besides the text: other participants' cursors (a caret with their name),
// comment markers in a gutter, and lines changed against the review's base. Each is a state field
// whose ranges map through every change, so they move with the code between updates from the SDK.
import { RangeSet, RangeSetBuilder, StateEffect, StateField, type Extension } from '@codemirror/state';
import {
  Decoration,
  EditorView,
  GutterMarker,
  WidgetType,
  gutter,
  type DecorationSet,
} from '@codemirror/view';

// ---- remote cursors ----------------------------------------------------------------------------

export interface RemoteCursor {
  participantId: string;
  name: string;
  color: string;
  /** UTF-16 offset in the current document. */
  pos: number;
}

class CursorWidget extends WidgetType {
  constructor(readonly cursor: Omit<RemoteCursor, 'pos'>) {
    super();
  }

  override eq(other: CursorWidget): boolean {
    return other.cursor.name === this.cursor.name && other.cursor.color === this.cursor.color;
  }

  toDOM(): HTMLElement {
    const caret = document.createElement('span');
    caret.className = 'cm-remote-cursor';
    caret.style.borderColor = this.cursor.color;
    caret.dataset.participant = this.cursor.participantId;
    caret.setAttribute('aria-label', `${this.cursor.name}'s cursor`);
    caret.setAttribute('role', 'img');
    // The name is drawn by CSS (attr(data-name)), so it is not part of the line's text.
    caret.dataset.name = this.cursor.name;
    caret.style.setProperty('--cursor-color', this.cursor.color);
    return caret;
  }

  override ignoreEvent(): boolean {
    return true;
  }
}

export const setRemoteCursors = StateEffect.define<RemoteCursor[]>();

const remoteCursorField = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(set, tr) {
    let next = set.map(tr.changes);
    for (const e of tr.effects) {
      if (!e.is(setRemoteCursors)) continue;
      const length = tr.state.doc.length;
      const sorted = [...e.value].sort((a, b) => a.pos - b.pos);
      next = Decoration.set(
        sorted.map((c) =>
          Decoration.widget({ widget: new CursorWidget(c), side: 1 }).range(
            Math.min(Math.max(c.pos, 0), length),
          ),
        ),
      );
    }
    return next;
  },
  provide: (f) => EditorView.decorations.from(f),
});

// ---- comment markers ---------------------------------------------------------------------------

class CommentMarker extends GutterMarker {
  constructor(readonly count: number) {
    super();
  }

  override eq(other: CommentMarker): boolean {
    return other.count === this.count;
  }

  override toDOM(): Node {
    const m = document.createElement('span');
    m.className = 'cm-comment-marker';
    m.textContent = String(this.count);
    m.title = this.count > 1 ? `${this.count} comment threads` : 'comment thread';
    return m;
  }
}

/** The lines (1-based) with open comment threads, and how many on each. */
export const setCommentLines = StateEffect.define<Map<number, number>>();

const commentLineField = StateField.define<{ markers: RangeSet<GutterMarker>; lines: DecorationSet }>({
  create: () => ({ markers: RangeSet.empty, lines: Decoration.none }),
  update(value, tr) {
    let next = { markers: value.markers.map(tr.changes), lines: value.lines.map(tr.changes) };
    for (const e of tr.effects) {
      if (!e.is(setCommentLines)) continue;
      const markers = new RangeSetBuilder<GutterMarker>();
      const lines = new RangeSetBuilder<Decoration>();
      const doc = tr.state.doc;
      for (const [line, count] of [...e.value].sort((a, b) => a[0] - b[0])) {
        if (line < 1 || line > doc.lines) continue;
        const from = doc.line(line).from;
        markers.add(from, from, new CommentMarker(count));
        lines.add(from, from, Decoration.line({ class: 'cm-commented-line' }));
      }
      next = { markers: markers.finish(), lines: lines.finish() };
    }
    return next;
  },
  provide: (f) => EditorView.decorations.from(f, (v) => v.lines),
});

/** The comment gutter; `onClick` gets the 1-based line of a clicked marker. */
function commentGutter(onClick: (line: number) => void): Extension {
  return gutter({
    class: 'cm-comment-gutter',
    markers: (view) => view.state.field(commentLineField).markers,
    domEventHandlers: {
      click(view, block) {
        onClick(view.state.doc.lineAt(block.from).number);
        return true;
      },
    },
  });
}

// ---- changes against the base ------------------------------------------------------------------

/** Against the base: lines (1-based) of the head the review adds or changes, and where it removed
 * base lines (after head line `after`, 0: above the first line) with their text. */
export interface BaseChanges {
  added: number[];
  removed: { after: number; lines: string[] }[];
}

export const setBaseChanges = StateEffect.define<BaseChanges>();

const baseChangeField = StateField.define<DecorationSet>({
  create: () => Decoration.none,
  update(set, tr) {
    let next = set.map(tr.changes);
    for (const e of tr.effects) {
      if (!e.is(setBaseChanges)) continue;
      const doc = tr.state.doc;
      const marks: { line: number; deco: Decoration }[] = [];
      for (const line of new Set(e.value.added)) {
        marks.push({ line, deco: Decoration.line({ class: 'cm-changed-line' }) });
      }
      for (const r of e.value.removed) {
        const title = `removed:\n${r.lines.join('\n')}`;
        marks.push(
          r.after === 0
            ? { line: 1, deco: Decoration.line({ class: 'cm-removed-above', attributes: { title } }) }
            : { line: r.after, deco: Decoration.line({ class: 'cm-removed-below', attributes: { title } }) },
        );
      }
      const b = new RangeSetBuilder<Decoration>();
      for (const m of marks
        .filter((m) => m.line >= 1 && m.line <= doc.lines)
        .sort((x, y) => x.line - y.line)) {
        const from = doc.line(m.line).from;
        b.add(from, from, m.deco);
      }
      next = b.finish();
    }
    return next;
  },
  provide: (f) => EditorView.decorations.from(f),
});

export function reviewDecorations(onCommentClick: (line: number) => void): Extension {
  return [remoteCursorField, commentLineField, baseChangeField, commentGutter(onCommentClick)];
}

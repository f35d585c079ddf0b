// Where the review stands (its outcome as GitHub decides it, each reviewer's verdict, open threads
// and files viewed) and the buttons to give a verdict.
import type { SessionClient, VerdictKind } from '../../src/client/browser.js';
import { el } from './dom.js';

const OUTCOME: Record<string, string> = {
  changes_requested: 'Changes requested',
  approved: 'Approved',
  commented: 'Commented',
  none: 'No verdict yet',
};

const VERDICT: Record<VerdictKind, string> = {
  approve: 'approved',
  request_changes: 'requested changes',
  comment: 'commented',
};

export class ReviewPanel {
  readonly element: HTMLElement;
  private readonly outcome = el('p', { className: 'outcome' });
  private readonly verdicts = el('ul', { className: 'verdicts', 'aria-label': 'Verdicts' });
  private readonly message = el('input', { id: 'verdict-message', autocomplete: 'off' });
  private readonly actions: HTMLElement;
  private key = '';

  constructor(
    private readonly client: SessionClient,
    private readonly canVote: () => boolean,
    private readonly report: (message: string) => void,
  ) {
    const button = (label: string, kind: VerdictKind) => {
      const b = el('button', { type: 'button' }, label);
      b.addEventListener('click', () => this.vote(kind));
      return b;
    };
    this.actions = el(
      'div',
      { className: 'verdict-actions' },
      el('label', { htmlFor: 'verdict-message' }, 'Verdict message (optional)'),
      this.message,
      el(
        'p',
        { className: 'actions' },
        button('Approve', 'approve'),
        button('Request changes', 'request_changes'),
      ),
    );
    this.element = el(
      'section',
      { className: 'review-panel', 'aria-label': 'Review' },
      el('h2', {}, 'Review'),
      this.outcome,
      this.verdicts,
      this.actions,
    );
  }

  private vote(kind: VerdictKind): void {
    const message = this.message.value.trim();
    this.client.setVerdict(kind, message).then(
      () => {
        this.message.value = '';
      },
      (err: Error) => this.report(`Your verdict was not saved: ${err.message}`),
    );
  }

  render(): void {
    const s = this.client.summary();
    const canVote = this.canVote();
    const key = JSON.stringify([s.outcome, s.verdicts, s.threads, canVote]);
    if (key === this.key) return;
    this.key = key;
    const open = s.threads.unresolved;
    this.outcome.textContent = `${OUTCOME[s.outcome] ?? s.outcome} · ${open} open thread${open === 1 ? '' : 's'}`;
    this.outcome.dataset.outcome = s.outcome;
    this.verdicts.replaceChildren(
      ...s.verdicts.map((v) =>
        el('li', {}, `${v.reviewer} ${VERDICT[v.verdict] ?? v.verdict}${v.message ? `: ${v.message}` : ''}`),
      ),
    );
    this.actions.hidden = !canVote;
  }
}

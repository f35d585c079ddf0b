// Per-session roles and what each may do. Checked by the engine for every message kind (the
// pipeline's authorize step), whatever the transport.
import { LiveReviewError } from './errors.js';

export type Role = 'author' | 'reviewer' | 'viewer';
export type Action =
  | 'edit'
  | 'comment'
  | 'cursor'
  | 'presence'
  | 'open_file'
  | 'read'
  | 'apply_suggestion'
  | 'verdict'
  | 'viewed';

// Reviewers comment, suggest (a comment), vote and mark files viewed; authors also edit and apply
// suggestions (and may vote: without authentication everyone is an author); viewers read.
const ALLOWED: Record<Role, ReadonlySet<Action>> = {
  author: new Set([
    'edit',
    'comment',
    'cursor',
    'presence',
    'open_file',
    'read',
    'apply_suggestion',
    'verdict',
    'viewed',
  ]),
  reviewer: new Set(['comment', 'cursor', 'presence', 'read', 'verdict', 'viewed']),
  viewer: new Set(['presence', 'read']),
};

export const ROLES: readonly Role[] = ['author', 'reviewer', 'viewer'];

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

export function authorize(role: Role, action: Action, sessionId: string): void {
  if (!ALLOWED[role].has(action)) {
    throw new LiveReviewError(
      'ROLE_FORBIDS',
      `a ${role} may not ${action.replaceAll('_', ' ')} in session ${sessionId}`,
      {
        metadata: { role, action, session: sessionId },
      },
    );
  }
}

// Who the page acts as. With authentication on, a bearer token: from the URL fragment `#token=…`
// (taken out of the address bar at once, so it is not shared with the link or kept in history) or
// pasted once, kept in sessionStorage for this tab. In development mode (no token), the name from
// `?user=`.
//
// The token is only read here, never verified: the server verifies it on every call. The page
// reads its subject (the user) and its `sessions` claim (the role per session) to show the right
// controls; the server enforces both whatever the page shows.
const STORAGE_KEY = 'livereview.token';

export type Role = 'author' | 'reviewer' | 'viewer';

export interface Identity {
  /** The bearer token, when authentication is on. */
  token?: string;
  /** The user: the token's subject, or the development-mode name. */
  userId: string;
  /** The role the token grants in the session (undefined: not said; development mode: author). */
  role?: Role;
}

/** Takes a token out of the URL fragment into sessionStorage; returns the stored token. */
export function takeToken(): string | undefined {
  const fragment = new URLSearchParams(location.hash.slice(1));
  const fromUrl = fragment.get('token');
  if (fromUrl) {
    sessionStorage.setItem(STORAGE_KEY, fromUrl);
    fragment.delete('token');
    const rest = fragment.toString();
    history.replaceState(history.state, '', location.pathname + location.search + (rest ? `#${rest}` : ''));
  }
  return sessionStorage.getItem(STORAGE_KEY) ?? undefined;
}

export function storeToken(token: string): void {
  sessionStorage.setItem(STORAGE_KEY, token.trim());
}

export function forgetToken(): void {
  sessionStorage.removeItem(STORAGE_KEY);
}

interface Claims {
  sub?: unknown;
  sessions?: unknown;
}

/** The claims of a JWT, unverified (undefined if it is not one). */
export function claimsOf(token: string): Claims | undefined {
  const part = token.split('.')[1];
  if (!part) return undefined;
  try {
    const json = atob(
      part
        .replace(/-/g, '+')
        .replace(/_/g, '/')
        .padEnd(Math.ceil(part.length / 4) * 4, '='),
    );
    const bytes = Uint8Array.from(json, (c) => c.charCodeAt(0));
    const claims: unknown = JSON.parse(new TextDecoder().decode(bytes));
    return typeof claims === 'object' && claims !== null ? (claims as Claims) : undefined;
  } catch {
    return undefined;
  }
}

const ROLES = new Set<string>(['author', 'reviewer', 'viewer']);

/** Who a token says the user is in `sessionId`. */
export function identityFromToken(token: string, sessionId: string): Identity {
  const claims = claimsOf(token);
  const userId = typeof claims?.sub === 'string' ? claims.sub : '';
  const sessions = claims?.sessions;
  let role: Role | undefined;
  if (typeof sessions === 'object' && sessions !== null) {
    const grants = sessions as Record<string, unknown>;
    const granted = grants[sessionId] ?? grants['*'];
    if (typeof granted === 'string' && ROLES.has(granted)) role = granted as Role;
  }
  return { token, userId, role };
}

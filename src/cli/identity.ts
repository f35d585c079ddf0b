// Who a command acts as: the user given, or the subject of the bearer token (the server takes the
// token's word for it; this only saves typing it twice).
import { userInfo } from 'node:os';
import { isAbsolute, relative } from 'node:path';

/** The subject of a JWT; not verified here, the server does. */
export function subjectOf(token: string): string | undefined {
  try {
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as {
      sub?: unknown;
    };
    return typeof payload.sub === 'string' ? payload.sub : undefined;
  } catch {
    return undefined;
  }
}

/** --token, else LIVEREVIEW_TOKEN. */
export function tokenOf(given: string | undefined): string | undefined {
  return given ?? (process.env.LIVEREVIEW_TOKEN || undefined);
}

/** --user, else the token's subject, else (when `fallBackToLogin`) this computer's login name. */
export function userOf(
  given: string | undefined,
  token: string | undefined,
  fallBackToLogin: boolean,
): string | undefined {
  const user = given ?? (token && subjectOf(token));
  if (user || !fallBackToLogin) return user || undefined;
  try {
    return userInfo().username || undefined;
  } catch {
    return undefined;
  }
}

/** How this program is run, for commands it prints (`node bin/livereview.js` from the checkout). */
export function selfCommand(): string {
  const script = process.argv[1] ?? 'bin/livereview.js';
  const rel = relative(process.cwd(), script);
  return `node ${rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : script}`;
}

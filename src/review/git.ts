// Runs the git CLI: argument arrays (never a shell), a timeout and an output bound on every call,
// and settings that keep a repository's own configuration from running programs on our behalf
// (fsmonitor hooks; external diff and textconv drivers are turned off per command).
import { execFile } from 'node:child_process';

export type GitErrorCode =
  /** git is not installed or not on PATH. */
  | 'GIT_NOT_FOUND'
  /** The directory is missing or not inside a git working tree. */
  | 'NOT_A_REPOSITORY'
  /** No base given, and no default branch to find one from. */
  | 'NO_DEFAULT_BRANCH'
  /** The base given does not name a commit. */
  | 'BAD_REVISION'
  /** HEAD has no commit yet (and no base was given). */
  | 'NO_COMMITS'
  /** HEAD and the default branch share no history. */
  | 'NO_MERGE_BASE'
  /** More changed files than the review may hold. */
  | 'TOO_MANY_FILES'
  /** git failed, timed out or printed more than expected. */
  | 'GIT_FAILED';

export class GitSourceError extends Error {
  override readonly name = 'GitSourceError';
  constructor(
    readonly code: GitErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface GitCall {
  cwd: string;
  timeoutMs: number;
  /** Most bytes of output accepted; more fails the call (GIT_FAILED). */
  maxBuffer: number;
  /** Written to git's stdin. */
  input?: string;
  /** Exit codes that are answers rather than failures (e.g. 1 from `rev-parse --verify -q`). */
  allowExit?: readonly number[];
}

export interface GitResult {
  exitCode: number;
  stdout: Buffer;
  stderr: string;
}

const ENV = {
  ...process.env,
  // Read-only commands must not take the index lock (another git may be running).
  GIT_OPTIONAL_LOCKS: '0',
  GIT_TERMINAL_PROMPT: '0',
  LC_ALL: 'C',
};

export function runGit(args: readonly string[], call: GitCall): Promise<GitResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'git',
      ['-c', 'core.fsmonitor=false', ...args],
      {
        cwd: call.cwd,
        env: ENV,
        encoding: 'buffer',
        timeout: call.timeoutMs,
        maxBuffer: call.maxBuffer,
        windowsHide: true,
      },
      (err, stdout, stderrBytes) => {
        const stderr = stderrBytes.toString('utf8').trim();
        if (!err) return resolve({ exitCode: 0, stdout, stderr });
        const e = err as NodeJS.ErrnoException & { code?: string | number; killed?: boolean };
        if (e.code === 'ENOENT' && e.path === 'git') {
          return reject(new GitSourceError('GIT_NOT_FOUND', 'git is not installed or not on PATH'));
        }
        const what = `git ${args.slice(0, 2).join(' ')}`;
        if (e.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') {
          return reject(
            new GitSourceError('GIT_FAILED', `${what} printed more than ${call.maxBuffer} bytes`),
          );
        }
        if (e.killed) {
          return reject(new GitSourceError('GIT_FAILED', `${what} took longer than ${call.timeoutMs} ms`));
        }
        if (typeof e.code === 'number' && call.allowExit?.includes(e.code)) {
          return resolve({ exitCode: e.code, stdout, stderr });
        }
        reject(new GitSourceError('GIT_FAILED', `${what} failed: ${stderr || e.message}`));
      },
    );
    child.stdin?.on('error', () => undefined); // git may exit before reading all of its input
    child.stdin?.end(call.input ?? '');
  });
}

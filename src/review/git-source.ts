// Collects a review from a git working tree: the files changed between a base revision and the
// working tree (tracked changes, staged or not, and untracked files that are not ignored), each
// with its base text and head text.
//
// - Base: the revision given, else the merge base of HEAD with the default branch (origin/HEAD,
//   else main, else master).
// - Head: the working tree as it is on disk (what the author edits), not the index.
// - Renames (tracked files, git's rename detection) are one file with both paths: `path` is the
//   new one, `previousPath` the old one, the base text is the old file's. A file moved without
//   telling git (untracked at its new place) shows as deleted + added.
// - Skipped, with a note saying why: binary files (git's numstat "-", or a NUL byte), files that
//   are not UTF-8, files above maxFileBytes on either side, symbolic links (never followed: a
//   link may point outside the repository), submodules and nested repositories, unmerged files,
//   unsafe paths, text identical on both sides (a mode change), and files beyond the review's
//   byte budget.
import { constants } from 'node:fs';
import { lstat, open, readlink, realpath, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { GitSourceError, runGit } from './git.js';
import type { FileChange } from './model.js';
import { reviewPathProblem } from './path.js';

export { GitSourceError, type GitErrorCode } from './git.js';
export type { FileChange } from './model.js';

export interface CollectReviewOptions {
  /** A directory inside the working tree. */
  repo: string;
  /** The revision to compare with (anything `git rev-parse` takes: branch, tag, sha, HEAD~2).
   * Default: the merge base of HEAD with the default branch. */
  base?: string;
  /** Files larger than this (bytes) on either side are skipped. Default 1 MiB: beyond that a file
   * is generated or data, and one message of the contract holds at most 1 MiB. */
  maxFileBytes?: number;
  /** More changed files than this is an error (TOO_MANY_FILES). Default 1000: usually a forgotten
   * .gitignore or the wrong base. */
  maxFiles?: number;
  /** Base plus head bytes of all files; files beyond it (in path order) are skipped. Default 64 MiB. */
  maxTotalBytes?: number;
  /** Bound on each git call. Default 30 s. */
  timeoutMs?: number;
}

export interface CollectedFile {
  path: string;
  change: FileChange;
  /** The base path of a renamed file. */
  previousPath?: string;
  /** '' for an added file. */
  baseText: string;
  /** '' for a deleted file. */
  headText: string;
}

export type SkipReason =
  | 'binary'
  | 'not_utf8'
  | 'too_large'
  | 'symlink'
  | 'submodule'
  | 'not_a_file'
  | 'unmerged'
  | 'invalid_path'
  | 'unchanged'
  | 'review_too_large';

export interface SkippedFile {
  /** As git names it; for an unsafe path, a JSON-quoted rendering of it. */
  path: string;
  reason: SkipReason;
  note: string;
}

export interface CollectedReview {
  /** Absolute path of the working tree's top level. */
  root: string;
  base: {
    sha: string;
    /** The revision given, or the default branch whose merge base was taken. */
    revision: string;
    description: string;
  };
  head: {
    /** HEAD's commit; undefined before the first commit. */
    sha: string | undefined;
    /** The checked-out branch; undefined on a detached HEAD. */
    branch: string | undefined;
    description: string;
  };
  /** In path order. */
  files: CollectedFile[];
  skipped: SkippedFile[];
}

export const DEFAULT_MAX_FILE_BYTES = 1024 * 1024;
export const DEFAULT_MAX_FILES = 1000;
export const DEFAULT_MAX_TOTAL_BYTES = 64 * 1024 * 1024;
export const DEFAULT_GIT_TIMEOUT_MS = 30_000;

/** Listings (paths, sizes) are small; this only stops a runaway. */
const LISTING_BYTES = 64 * 1024 * 1024;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export async function collectReview(options: CollectReviewOptions): Promise<CollectedReview> {
  const limits = {
    maxFileBytes: options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES,
    maxFiles: options.maxFiles ?? DEFAULT_MAX_FILES,
    maxTotalBytes: options.maxTotalBytes ?? DEFAULT_MAX_TOTAL_BYTES,
  };
  const timeoutMs = options.timeoutMs ?? DEFAULT_GIT_TIMEOUT_MS;
  const root = await workingTreeRoot(resolve(options.repo), timeoutMs);
  const git: Git = (args, more = {}) =>
    runGit(args, { cwd: root, timeoutMs, maxBuffer: more.maxBuffer ?? LISTING_BYTES, ...more });
  const verifyCommit = async (rev: string): Promise<string | undefined> => {
    const r = await git(['rev-parse', '-q', '--verify', '--end-of-options', `${rev}^{commit}`], {
      allowExit: [1],
    });
    return r.exitCode === 0 ? r.stdout.toString('utf8').trim() : undefined;
  };

  const headSha = await verifyCommit('HEAD');
  const branchRef = await git(['symbolic-ref', '-q', '--short', 'HEAD'], { allowExit: [1] });
  const branch = branchRef.exitCode === 0 ? branchRef.stdout.toString('utf8').trim() : undefined;
  const base = await resolveBase(options.base, headSha, verifyCommit, git);
  const { candidates, skipped } = await listChanges(git, base, limits.maxFiles);
  const rootReal = await realpath(root);
  const sizes = await blobSizes(
    candidates.flatMap((c) => (c.baseSha ? [c.baseSha] : [])),
    git,
  );
  const accepted = await withinLimits(candidates, sizes, rootReal, limits, skipped);
  const blobs = await readBlobs(
    accepted.flatMap((c) => (c.baseSha ? [c.baseSha] : [])),
    sizes,
    git,
  );
  const files = await readTexts(accepted, blobs, rootReal, limits.maxFileBytes, skipped);
  skipped.sort((a, b) => compare(a.path, b.path));

  const short = (sha: string): string => sha.slice(0, 7);
  const headDescription = !headSha
    ? 'the working tree (no commits yet)'
    : branch
      ? `the working tree of ${branch} (HEAD ${short(headSha)})`
      : `the working tree at a detached HEAD ${short(headSha)}`;
  return { root, base, head: { sha: headSha, branch, description: headDescription }, files, skipped };
}

async function workingTreeRoot(dir: string, timeoutMs: number): Promise<string> {
  const isDir = await stat(dir).then(
    (s) => s.isDirectory(),
    () => false,
  );
  if (!isDir) throw new GitSourceError('NOT_A_REPOSITORY', `${dir} is not a directory`);
  const top = await runGit(['rev-parse', '--show-toplevel'], {
    cwd: dir,
    timeoutMs,
    maxBuffer: 64 * 1024,
    allowExit: [128],
  });
  if (top.exitCode !== 0) {
    throw new GitSourceError('NOT_A_REPOSITORY', `${dir} is not in a git working tree: ${top.stderr}`);
  }
  return top.stdout.toString('utf8').replace(/\n$/, '');
}

/** The changed files, tracked (with renames) and untracked, in path order; what can be told
 * unfit from git's listing alone goes to `skipped`. */
async function listChanges(
  git: Git,
  base: { sha: string; description: string },
  maxFiles: number,
): Promise<{ candidates: Candidate[]; skipped: SkippedFile[] }> {
  const diffArgs = ['-z', '-M', '--no-abbrev', '--no-ext-diff', '--no-textconv', base.sha, '--'];
  const raw = parseRaw((await git(['diff', '--raw', ...diffArgs])).stdout);
  const binary = parseNumstatBinary((await git(['diff', '--numstat', ...diffArgs])).stdout);
  const untracked = splitNul((await git(['ls-files', '-z', '--others', '--exclude-standard'])).stdout);
  const count = raw.length + untracked.length;
  if (count > maxFiles) {
    throw new GitSourceError(
      'TOO_MANY_FILES',
      `${count} files changed since ${base.description}, more than the limit of ${maxFiles}: ` +
        'pass a closer base, or add generated files to .gitignore',
    );
  }
  const skipped: SkippedFile[] = [];
  const candidates = new Map<string, Candidate>();
  for (const e of raw) {
    const c = candidateOf(e, binary.has(e.path.toString('latin1')));
    if ('reason' in c) skipped.push(c);
    else candidates.set(c.path, c);
  }
  for (const bytes of untracked) {
    const path = decodePath(bytes);
    if (typeof path !== 'string') {
      skipped.push(path);
      continue;
    }
    if (path.endsWith('/')) {
      skipped.push(skip(path, 'not_a_file', 'a nested git repository'));
      continue;
    }
    const problem = reviewPathProblem(path);
    if (problem) {
      skipped.push(skip(JSON.stringify(path), 'invalid_path', `the path ${problem}`));
      continue;
    }
    // Deleted from the index but still on disk (git rm --cached): a change of its text, if any.
    const deleted = candidates.get(path);
    if (deleted && deleted.change === 'deleted') candidates.set(path, { ...deleted, change: 'modified' });
    else candidates.set(path, { path, change: 'added' });
  }
  return { candidates: [...candidates.values()].sort((a, b) => compare(a.path, b.path)), skipped };
}

/** The candidates within the per-file and whole-review byte limits, measured before reading. */
async function withinLimits(
  candidates: readonly Candidate[],
  baseSizes: Map<string, number>,
  rootReal: string,
  limits: { maxFileBytes: number; maxTotalBytes: number },
  skipped: SkippedFile[],
): Promise<Candidate[]> {
  const accepted: Candidate[] = [];
  let budget = limits.maxTotalBytes;
  for (const c of candidates) {
    const baseSize = c.baseSha ? (baseSizes.get(c.baseSha) ?? 0) : 0;
    const head = c.change === 'deleted' ? { size: 0 } : await headFile(rootReal, c.path);
    if ('reason' in head) {
      skipped.push(head);
      continue;
    }
    const size = Math.max(baseSize, head.size);
    if (size > limits.maxFileBytes) {
      skipped.push(
        skip(c.path, 'too_large', `${size} bytes, above the limit of ${limits.maxFileBytes} per file`),
      );
      continue;
    }
    if (baseSize + head.size > budget) {
      skipped.push(
        skip(c.path, 'review_too_large', `the review's files exceed ${limits.maxTotalBytes} bytes`),
      );
      continue;
    }
    budget -= baseSize + head.size;
    accepted.push(c);
  }
  return accepted;
}

/** Base and head texts of the accepted files; binary or non-UTF-8 ones, and files whose text did
 * not change, go to `skipped`. */
async function readTexts(
  accepted: readonly Candidate[],
  blobs: Map<string, Buffer>,
  rootReal: string,
  maxFileBytes: number,
  skipped: SkippedFile[],
): Promise<CollectedFile[]> {
  const files: CollectedFile[] = [];
  for (const c of accepted) {
    const baseBytes = c.baseSha ? blobs.get(c.baseSha) : Buffer.alloc(0);
    if (!baseBytes) throw new GitSourceError('GIT_FAILED', `git did not return the base of ${c.path}`);
    const headBytes =
      c.change === 'deleted' ? Buffer.alloc(0) : await readHead(rootReal, c.path, maxFileBytes);
    if (!Buffer.isBuffer(headBytes)) {
      skipped.push(headBytes);
      continue;
    }
    const baseText = textOf(baseBytes, 'base');
    const headText = textOf(headBytes, 'head');
    if (typeof baseText !== 'string' || typeof headText !== 'string') {
      const problem = typeof baseText !== 'string' ? baseText : (headText as TextProblem);
      skipped.push(skip(c.path, problem.reason, problem.note));
      continue;
    }
    if (c.change === 'modified' && baseText === headText) {
      skipped.push(skip(c.path, 'unchanged', 'its text is unchanged (only its file mode changed)'));
      continue;
    }
    files.push({
      path: c.path,
      change: c.change,
      ...(c.previousPath !== undefined ? { previousPath: c.previousPath } : {}),
      baseText,
      headText,
    });
  }
  return files;
}

type Git = (
  args: string[],
  more?: { maxBuffer?: number; input?: string; allowExit?: number[] },
) => ReturnType<typeof runGit>;

async function resolveBase(
  given: string | undefined,
  headSha: string | undefined,
  verifyCommit: (rev: string) => Promise<string | undefined>,
  git: Git,
): Promise<{ sha: string; revision: string; description: string }> {
  if (given !== undefined) {
    // eslint-disable-next-line no-control-regex
    const sha = given && !/[\u0000-\u001f\u007f]/.test(given) ? await verifyCommit(given) : undefined;
    if (!sha) throw new GitSourceError('BAD_REVISION', `${JSON.stringify(given)} does not name a commit`);
    return { sha, revision: given, description: `${given} (${sha.slice(0, 7)})` };
  }
  if (!headSha) {
    throw new GitSourceError(
      'NO_COMMITS',
      'the repository has no commit yet: commit first, or pass a base revision',
    );
  }
  let found: { ref: string; name: string } | undefined;
  const originHead = await git(['symbolic-ref', '-q', 'refs/remotes/origin/HEAD'], { allowExit: [1] });
  const originRef = originHead.stdout.toString('utf8').trim();
  if (originHead.exitCode === 0 && (await verifyCommit(originRef))) {
    found = { ref: originRef, name: originRef.replace(/^refs\/remotes\//, '') };
  } else {
    for (const name of ['main', 'master']) {
      if (await verifyCommit(`refs/heads/${name}`)) {
        found = { ref: `refs/heads/${name}`, name };
        break;
      }
    }
  }
  if (!found) {
    throw new GitSourceError(
      'NO_DEFAULT_BRANCH',
      'no default branch to compare with (no origin/HEAD, main or master): pass a base revision (--base <rev>)',
    );
  }
  const { ref, name } = found;
  const mergeBase = await git(['merge-base', 'HEAD', ref], { allowExit: [1] });
  if (mergeBase.exitCode !== 0) {
    throw new GitSourceError(
      'NO_MERGE_BASE',
      `HEAD and ${name} have no common history: pass a base revision (--base <rev>)`,
    );
  }
  const sha = mergeBase.stdout.toString('utf8').trim();
  return { sha, revision: name, description: `the merge base of HEAD with ${name} (${sha.slice(0, 7)})` };
}

interface Candidate {
  path: string;
  change: FileChange;
  previousPath?: string;
  /** The base blob, for every change but an added file. */
  baseSha?: string;
}

interface RawEntry {
  status: string;
  oldMode: string;
  newMode: string;
  oldSha: string;
  path: Buffer;
  oldPath: Buffer | undefined;
}

function candidateOf(e: RawEntry, binary: boolean): Candidate | SkippedFile {
  const path = decodePath(e.path);
  if (typeof path !== 'string') return path;
  const previousPath = e.oldPath && decodePath(e.oldPath);
  if (previousPath !== undefined && typeof previousPath !== 'string') return previousPath;
  for (const p of [path, previousPath]) {
    const problem = p === undefined ? undefined : reviewPathProblem(p);
    if (problem) return skip(JSON.stringify(p), 'invalid_path', `the path ${problem}`);
  }
  if (e.status === 'U') return skip(path, 'unmerged', 'unmerged (resolve the conflict first)');
  if (e.oldMode === '160000' || e.newMode === '160000') return skip(path, 'submodule', 'a submodule');
  if (e.oldMode === '120000' || e.newMode === '120000') {
    return skip(path, 'symlink', 'a symbolic link (not followed)');
  }
  if (binary) return skip(path, 'binary', 'binary (git shows no lines for it)');
  switch (e.status) {
    case 'A':
    case 'C':
      return { path, change: 'added' };
    case 'D':
      return { path, change: 'deleted', baseSha: e.oldSha };
    case 'R':
      return { path, change: 'renamed', previousPath, baseSha: e.oldSha };
    default:
      return { path, change: 'modified', baseSha: e.oldSha };
  }
}

/** `git diff --raw -z`: ":oldmode newmode oldsha newsha status" NUL path NUL (NUL path, for
 * renames and copies). */
function parseRaw(out: Buffer): RawEntry[] {
  const parts = splitNul(out);
  const entries: RawEntry[] = [];
  for (let i = 0; i < parts.length;) {
    const meta = parts[i++]!.toString('latin1');
    const m = /^:(\d{6}) (\d{6}) ([0-9a-f]+) ([0-9a-f]+) ([A-Z])\d*$/.exec(meta);
    const first = parts[i++];
    if (!m || !first) throw new GitSourceError('GIT_FAILED', `unexpected git diff --raw output: ${meta}`);
    const status = m[5]!;
    const second = status === 'R' || status === 'C' ? parts[i++] : undefined;
    entries.push({
      status,
      oldMode: m[1]!,
      newMode: m[2]!,
      oldSha: m[3]!,
      path: second ?? first,
      oldPath: second ? first : undefined,
    });
  }
  return entries;
}

/** Paths (as latin1 keys of their bytes) that `git diff --numstat -z` counts as binary ("-\t-\t"). */
function parseNumstatBinary(out: Buffer): Set<string> {
  const parts = splitNul(out);
  const binary = new Set<string>();
  for (let i = 0; i < parts.length;) {
    const line = parts[i++]!.toString('latin1');
    const m = /^([-\d]+)\t([-\d]+)\t(.*)$/s.exec(line);
    if (!m) throw new GitSourceError('GIT_FAILED', `unexpected git diff --numstat output: ${line}`);
    // A rename: the paths follow as two more entries, the new one last.
    const path = m[3] === '' ? (i++, parts[i++]?.toString('latin1')) : m[3];
    if (m[1] === '-' && path !== undefined) binary.add(path);
  }
  return binary;
}

function splitNul(out: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  let start = 0;
  for (let nul = out.indexOf(0); nul !== -1; nul = out.indexOf(0, start)) {
    parts.push(out.subarray(start, nul));
    start = nul + 1;
  }
  return parts;
}

function decodePath(bytes: Buffer): string | SkippedFile {
  try {
    return utf8.decode(bytes);
  } catch {
    return skip(JSON.stringify(bytes.toString('latin1')), 'invalid_path', 'the path is not UTF-8');
  }
}

/** Sizes of blobs (`git cat-file --batch-check`), read before the blobs so that a huge one is
 * never loaded. */
async function blobSizes(shas: string[], git: Git): Promise<Map<string, number>> {
  const sizes = new Map<string, number>();
  if (shas.length === 0) return sizes;
  const out = await git(['cat-file', '--batch-check'], { input: shas.join('\n') + '\n' });
  for (const line of out.stdout.toString('latin1').split('\n')) {
    const m = /^([0-9a-f]+) blob (\d+)$/.exec(line);
    if (m) sizes.set(m[1]!, Number(m[2]));
  }
  return sizes;
}

/** Blobs' contents (`git cat-file --batch`: "sha type size" LF content LF, per blob). */
async function readBlobs(shas: string[], sizes: Map<string, number>, git: Git): Promise<Map<string, Buffer>> {
  const blobs = new Map<string, Buffer>();
  const unique = [...new Set(shas)];
  if (unique.length === 0) return blobs;
  const total = unique.reduce((n, sha) => n + (sizes.get(sha) ?? 0) + sha.length + 32, 0);
  const out = (
    await git(['cat-file', '--batch'], { input: unique.join('\n') + '\n', maxBuffer: total + 1024 })
  ).stdout;
  let pos = 0;
  while (pos < out.length) {
    const eol = out.indexOf(10, pos);
    const m = /^([0-9a-f]+) blob (\d+)$/.exec(out.subarray(pos, eol).toString('latin1'));
    if (eol === -1 || !m) throw new GitSourceError('GIT_FAILED', 'unexpected git cat-file --batch output');
    const size = Number(m[2]);
    blobs.set(m[1]!, out.subarray(eol + 1, eol + 1 + size));
    pos = eol + 1 + size + 1;
  }
  return blobs;
}

/** A working-tree file's size, or why it cannot be read as the head of a review file: only
 * regular files reached without passing through a symbolic link are read. */
async function headFile(rootReal: string, path: string): Promise<{ size: number } | SkippedFile> {
  const abs = join(rootReal, path);
  let dirReal: string;
  try {
    dirReal = await realpath(dirname(abs));
  } catch {
    return skip(path, 'not_a_file', 'no longer in the working tree');
  }
  if (dirReal !== dirname(abs)) {
    return skip(path, 'symlink', 'a directory on its path is a symbolic link (not followed)');
  }
  const info = await lstat(abs).catch(() => undefined);
  if (!info) return skip(path, 'not_a_file', 'no longer in the working tree');
  if (info.isSymbolicLink()) {
    const target = await readlink(abs).catch(() => '?');
    return skip(path, 'symlink', `a symbolic link to ${JSON.stringify(target)} (not followed)`);
  }
  if (!info.isFile()) return skip(path, 'not_a_file', 'not a regular file');
  return { size: info.size };
}

/** Reads a working-tree file checked by headFile; O_NOFOLLOW refuses a file swapped for a
 * symbolic link since. */
async function readHead(rootReal: string, path: string, maxFileBytes: number): Promise<Buffer | SkippedFile> {
  const checked = await headFile(rootReal, path);
  if ('reason' in checked) return checked;
  const file = await open(join(rootReal, path), constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0)).catch(
    () => undefined,
  );
  if (!file) return skip(path, 'not_a_file', 'no longer a regular file in the working tree');
  try {
    const info = await file.stat();
    if (!info.isFile()) return skip(path, 'not_a_file', 'not a regular file');
    // It may have grown since it was measured.
    if (info.size > maxFileBytes) {
      return skip(path, 'too_large', `${info.size} bytes, above the limit of ${maxFileBytes} per file`);
    }
    const bytes = Buffer.alloc(info.size);
    const { bytesRead } = await file.read(bytes, 0, info.size, 0);
    return bytes.subarray(0, bytesRead);
  } finally {
    await file.close();
  }
}

interface TextProblem {
  reason: 'binary' | 'not_utf8';
  note: string;
}

function textOf(bytes: Buffer, side: 'base' | 'head'): string | TextProblem {
  if (bytes.includes(0)) return { reason: 'binary', note: `binary (its ${side} has a NUL byte)` };
  try {
    return utf8.decode(bytes);
  } catch {
    return { reason: 'not_utf8', note: `its ${side} is not UTF-8 text` };
  }
}

function skip(path: string, reason: SkipReason, note: string): SkippedFile {
  return { path, reason, note };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// `livereview backup` and `livereview restore`: an online, consistent copy of the database (the
// SQLite backup API; the server may keep running), and putting one back (server stopped).
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import Database from 'better-sqlite3';
import { mergeTail, readTail, TAIL_FILE, type LogRow } from '../store/sqlite/log-tail.js';
import { DATABASE_FILE } from '../store/sqlite/sqlite-store.js';

export function registerBackup(program: Command): void {
  program
    .command('backup')
    .description('Copy the database of a data directory to a file, consistently, while the server runs')
    .requiredOption('--data <dir>', 'the data directory')
    .requiredOption('--to <file>', 'the backup file to write')
    .action(async (o: { data: string; to: string }) => {
      const file = join(o.data, DATABASE_FILE);
      if (!existsSync(file)) throw new Error(`no database at ${file}`);
      // The log's newest events are in the tail's file until the server copies them: read it
      // first, then add what it held to the copy of the database (see mergeTail).
      const tailFile = join(o.data, TAIL_FILE);
      let tail: LogRow[] | undefined;
      if (existsSync(tailFile)) {
        const t = new Database(tailFile, { readonly: true, fileMustExist: true });
        try {
          const hasTail = t.prepare("SELECT 1 FROM sqlite_schema WHERE name = 'event_tail'").get();
          tail = hasTail ? readTail(t, 'main') : [];
        } finally {
          t.close();
        }
      }
      const db = new Database(file, { readonly: true, fileMustExist: true });
      try {
        await db.backup(o.to);
      } finally {
        db.close();
      }
      if (tail) {
        const copy = new Database(o.to);
        try {
          mergeTail(copy, tail);
        } finally {
          copy.close();
        }
      }
      process.stderr.write(`backed up ${file} to ${o.to}\n`);
    });

  program
    .command('restore')
    .description("Replace the database of a (stopped) server's data directory with a backup file")
    .requiredOption('--from <file>', 'a file written by `livereview backup`')
    .requiredOption('--data <dir>', 'the data directory')
    .action((o: { from: string; data: string }) => {
      const lock = join(o.data, 'livereview.lock');
      if (existsSync(lock)) {
        const pid = Number(readFileSync(lock, 'utf8'));
        let alive = false;
        try {
          process.kill(pid, 0);
          alive = true;
        } catch {
          alive = false;
        }
        if (alive) throw new Error(`a server (process ${pid}) is using ${o.data}: stop it first`);
      }
      const check = new Database(o.from, { readonly: true, fileMustExist: true });
      const ok = check.pragma('integrity_check', { simple: true });
      check.close();
      if (ok !== 'ok') throw new Error(`${o.from} fails its integrity check: ${String(ok)}`);
      mkdirSync(o.data, { recursive: true });
      const target = join(o.data, DATABASE_FILE);
      for (const suffix of ['-wal', '-shm']) rmSync(target + suffix, { force: true });
      // The tail belongs to the database replaced: its events must not join the restored one.
      for (const suffix of ['', '-wal', '-shm']) rmSync(join(o.data, TAIL_FILE) + suffix, { force: true });
      copyFileSync(o.from, target);
      process.stderr.write(`restored ${o.from} into ${target}\n`);
    });
}

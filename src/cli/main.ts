// The `livereview` command: one file per subcommand. Only the subcommand being run is loaded (the
// others bring the client SDK, the load generator, …: 0–8 MB more RSS for `serve` at start, over 5
// starts); without one, or with one it does not know, every subcommand is, for the help.
import { Command } from 'commander';

type Register = (program: Command) => void;

const SUBCOMMANDS: Record<string, () => Promise<Register>> = {
  serve: async () => (await import('./serve.js')).registerServe,
  backup: async () => (await import('./backup.js')).registerBackup,
  restore: async () => (await import('./backup.js')).registerBackup,
  join: async () => (await import('./join.js')).registerJoin,
  open: async () => (await import('./open.js')).registerOpen,
  export: async () => (await import('./export.js')).registerExport,
  demo: async () => (await import('./demo.js')).registerDemo,
  token: async () => (await import('./token.js')).registerToken,
  bench: async () => (await import('./bench.js')).registerBench,
};

async function main(argv: string[]): Promise<void> {
  const program = new Command('livereview')
    .description('Real-time collaborative code review over gRPC')
    .version('0.1.0');
  const named = argv[2] !== undefined && Object.hasOwn(SUBCOMMANDS, argv[2]) ? [argv[2]] : undefined;
  // One module may register several subcommands (backup and restore): each module once.
  const registers = new Set(
    await Promise.all((named ?? Object.keys(SUBCOMMANDS)).map((n) => SUBCOMMANDS[n]!())),
  );
  for (const register of registers) register(program);
  await program.parseAsync(argv);
}

main(process.argv).catch((err: unknown) => {
  process.stderr.write(`livereview: ${(err as Error).message}\n`);
  process.exit(1);
});

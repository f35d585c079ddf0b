// The `livereview` command: one file per subcommand.
import { Command } from 'commander';
import { registerBackup } from './backup.js';
import { registerBench } from './bench.js';
import { registerDemo } from './demo.js';
import { registerExport } from './export.js';
import { registerJoin } from './join.js';
import { registerOpen } from './open.js';
import { registerServe } from './serve.js';
import { registerToken } from './token.js';

const program = new Command('livereview')
  .description('Real-time collaborative code review over gRPC')
  .version('0.1.0');
registerServe(program);
registerBackup(program);
registerJoin(program);
registerOpen(program);
registerExport(program);
registerDemo(program);
registerToken(program);
registerBench(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`livereview: ${(err as Error).message}\n`);
  process.exit(1);
});

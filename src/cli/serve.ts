// `livereview serve`: the server with its embedded default, until SIGTERM/SIGINT.
import type { Command } from 'commander';
import { envOf, flagOf, OPTIONS, resolveConfig } from '../server/config.js';
import { startServer } from '../server/server.js';

export function registerServe(program: Command): void {
  const cmd = program
    .command('serve')
    .description('Run the LiveReview server (embedded store; every option also reads LIVEREVIEW_<NAME>)')
    .option('--config <file>', 'JSON config file with any of the options below (camelCase keys)');
  for (const o of OPTIONS) {
    const arg = o.type === 'bool' ? '' : o.type === 'int' ? ' <n>' : ' <value>';
    cmd.option(
      `${flagOf(o.key)}${arg}`,
      `${o.description} [env ${envOf(o.key)}, default ${String(o.default)}]`,
    );
  }
  cmd.action(async (flags: Record<string, unknown> & { config?: string }) => {
    const config = resolveConfig(flags, process.env, flags.config);
    const server = await startServer(config);
    const target = `${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${server.port}`;
    process.stderr.write(
      [
        `LiveReview listening on ${target} (gRPC, plaintext; data ${config.data})`,
        server.metricsPort >= 0
          ? `metrics: http://${config.metricsHost}:${server.metricsPort}/metrics`
          : 'metrics: off',
        `try:     grpcurl -plaintext ${target} list`,
        `         grpcurl -plaintext -d '{"session_id":"demo"}' ${target} codereview.v1.CodeReviewService/GetSession`,
        'stop:    Ctrl-C (graceful: clients are told to resume elsewhere)',
        '',
      ].join('\n'),
    );
    let stopping = false;
    const stop = (signal: string) => {
      if (stopping) {
        process.stderr.write(`${signal} again: exiting now\n`);
        process.exit(1);
      }
      stopping = true;
      server.logger.info({ signal }, 'signal received');
      server.shutdown().then(
        () => process.exit(0),
        (err: unknown) => {
          server.logger.error({ err }, 'shutdown failed');
          process.exit(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });
}

// `livereview serve`: the server with its embedded default, until SIGTERM/SIGINT.
import { existsSync } from 'node:fs';
import { isAbsolute, relative } from 'node:path';
import type { Command } from 'commander';
import { envOf, flagOf, OPTIONS, resolveConfig, type ServerConfig } from '../server/config.js';
import { applyGcHelperThreads } from '../server/cpu-budget.js';

/** How to run this same command from the current directory. */
function self(): string {
  const script = process.argv[1] ?? 'bin/livereview.js';
  const rel = relative(process.cwd(), script);
  return `node ${rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : script}`;
}

/** The HTTP edge's base URL as a person on this machine reaches it. */
export function httpBase(config: ServerConfig, host: string, httpPort: number): string {
  return `${config.tlsCertFile ? 'https' : 'http'}://${host}:${httpPort}`;
}

/** The web page of session `demo`: in development mode the URL names the user; with authentication
 * the page asks for a token (or takes one in the fragment: #token=…). */
export function reviewUrl(config: ServerConfig, base: string): string {
  const auth = config.authSecretFile || config.authPublicKeyFile || config.authJwksFile;
  return `${base}/review/demo${auth ? '' : '?user=you'}`;
}

/** Lines a person can paste as they are, on a fresh server: each first opens a review, then reads
 * it (a GetSession of a session nobody opened would only say NOT_FOUND). */
export function hints(config: ServerConfig, target: string, base?: string): string[] {
  const cli = self();
  const lines: string[] = [];
  let grpcurlAuth = '';
  if (config.authSecretFile) {
    lines.push(
      `export LIVEREVIEW_TOKEN="$(${cli} token --secret-file ${config.authSecretFile} --user you --session demo)"`,
    );
    grpcurlAuth = ' -H "authorization: Bearer $LIVEREVIEW_TOKEN"';
  } else if (config.authPublicKeyFile || config.authJwksFile) {
    lines.push('export LIVEREVIEW_TOKEN=<a token from your identity provider, with a role in "demo">');
    grpcurlAuth = ' -H "authorization: Bearer $LIVEREVIEW_TOKEN"';
  }
  const tls = config.tlsCertFile ? `-cacert ${config.tlsCertFile}` : '-plaintext';
  if (!config.tlsCertFile) {
    const open = existsSync('README.md') ? ' --open README.md' : '';
    lines.push(`${cli} join demo --user you --target ${target}${open}`);
    if (!open) lines.push('  (then type "o <file>" to open a file into the review)');
  }
  lines.push(
    `grpcurl ${tls}${grpcurlAuth} ${target} list`,
    `grpcurl ${tls}${grpcurlAuth} -d '{"session_id":"demo","user_id":"you","files":[{"path":"main.ts","text":"hello\\n"}]}' ${target} codereview.v1.CodeReviewService/OpenReview`,
    `grpcurl ${tls}${grpcurlAuth} -d '{"session_id":"demo"}' ${target} codereview.v1.CodeReviewService/GetSession`,
  );
  if (base) {
    const curlTls = config.tlsCertFile ? ` --cacert ${config.tlsCertFile}` : '';
    lines.push(
      `curl${curlTls}${grpcurlAuth} -H 'content-type: application/json' -d '{"sessionId":"demo"}' ${base}/codereview.v1.CodeReviewService/GetSession`,
    );
  }
  return lines;
}

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
    // Before the server's modules load: V8 takes these flags only while no collection is under way.
    applyGcHelperThreads(config.gcHelperThreads);
    const { startServer } = await import('../server/server.js');
    const server = await startServer(config);
    // Before the banner: whoever reads "stop: Ctrl-C" may stop it at once (a SIGTERM before the
    // handler is there would end the process without its graceful shutdown).
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
    const host = config.host === '0.0.0.0' ? '127.0.0.1' : config.host;
    const target = `${host}:${server.port}`;
    const base = server.httpPort >= 0 ? httpBase(config, host, server.httpPort) : undefined;
    process.stderr.write(
      [
        ...(base ? [`Open ${reviewUrl(config, base)} in a browser (the web app)`] : []),
        `LiveReview listening on ${target} (gRPC, ${config.tlsCertFile ? 'TLS' : 'plaintext'}; data ${config.data})`,
        base
          ? `http:    ${base} (web app; Connect JSON and binary, gRPC-Web)`
          : 'http:    off (--http-port -1)',
        server.metricsPort >= 0
          ? `metrics: http://${config.metricsHost}:${server.metricsPort}/metrics`
          : 'metrics: off',
        ...hints(config, target, base).map((l, i) => (i === 0 ? 'try:     ' : '         ') + l),
        'stop:    Ctrl-C (graceful: clients are told to resume elsewhere)',
        '',
      ].join('\n'),
    );
  });
}

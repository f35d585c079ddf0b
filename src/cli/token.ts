// `livereview token`: mints an HS256 bearer token for development and tests; the token is the last
// line of the output.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { isRole, type Role } from '../core/roles.js';
import { mintToken } from '../security/tokens.js';

function parseTtl(ttl: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(ttl.trim());
  if (!m) throw new Error(`--ttl ${ttl}: use a number of seconds, or 30s, 15m, 1h, 7d`);
  return Number(m[1]) * ({ '': 1, s: 1, m: 60, h: 3600, d: 86400 } as Record<string, number>)[m[2]!]!;
}

export function registerToken(program: Command): void {
  program
    .command('token')
    .description('Mint a bearer token (HS256) for a user and session(s); printed on the last line')
    .requiredOption('--secret-file <file>', 'the file given to serve --auth-secret-file')
    .requiredOption('--user <id>', 'the user (the token subject)')
    .option('--session <id...>', 'session id(s) the role applies to; * for every session', ['*'])
    .option('--role <role>', 'author, reviewer or viewer', 'author')
    .option('--ttl <duration>', 'lifetime: seconds, or 30s, 15m, 1h, 7d', '1h')
    .option('--issuer <iss>', 'must match serve --auth-issuer', 'livereview')
    .option('--audience <aud>', 'must match serve --auth-audience', 'livereview')
    .option('--id <jti>', 'token id (for the denylist)')
    .action(
      async (o: {
        secretFile: string;
        user: string;
        session: string[];
        role: string;
        ttl: string;
        issuer: string;
        audience: string;
        id?: string;
      }) => {
        if (!isRole(o.role)) throw new Error(`--role ${o.role}: use author, reviewer or viewer`);
        const sessions = Object.fromEntries(o.session.map((s) => [s, o.role as Role]));
        const token = await mintToken({
          secret: readFileSync(o.secretFile, 'utf8').trim(),
          userId: o.user,
          sessions,
          ttlSeconds: parseTtl(o.ttl),
          issuer: o.issuer,
          audience: o.audience,
          tokenId: o.id,
        });
        process.stderr.write(
          `token for ${o.user} as ${o.role} in ${o.session.join(', ')}, valid ${o.ttl}:\n`,
        );
        process.stdout.write(token + '\n');
      },
    );
}

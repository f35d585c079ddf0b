// Structured JSON logs (pino). Every line about a stream carries its correlation id (`cid`).
import { pino, type Logger } from 'pino';

export type { Logger };

/** Every line names the instance that wrote it: in a cluster, logs of several instances meet. */
export function createLogger(level: string, instance: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    { level, base: { service: 'livereview', instance }, timestamp: pino.stdTimeFunctions.isoTime },
    destination ?? pino.destination({ fd: 1, sync: false }),
  );
}

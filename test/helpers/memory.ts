// The heap this process keeps alive: used after forced full collections (the tests that measure it
// run the server in-process, so what the server retains is in this number).
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

export function heapAfterGc(): number {
  for (let i = 0; i < 4; i++) gc();
  return process.memoryUsage().heapUsed;
}

export const MB = 1024 * 1024;

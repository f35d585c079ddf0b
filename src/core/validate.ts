// Semantic checks shared by every transport: identifiers, paths and sizes.
import { invalidMessage } from './errors.js';

export const LIMITS = {
  idLength: 256,
  pathLength: 1024,
  clientMessageIdLength: 128,
  commentTextLength: 65536,
  displayNameLength: 128,
} as const;

// Control characters have no business in identifiers or paths (log injection, display spoofing).
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

export function checkId(field: string, value: string, required = true): string {
  if (!value) {
    if (required) throw invalidMessage(field, 'is required');
    return value;
  }
  if (value.length > LIMITS.idLength)
    throw invalidMessage(field, `is longer than ${LIMITS.idLength} characters`);
  if (CONTROL.test(value)) throw invalidMessage(field, 'contains control characters');
  return value;
}

export function checkPath(field: string, value: string): string {
  if (!value) throw invalidMessage(field, 'is required');
  if (value.length > LIMITS.pathLength)
    throw invalidMessage(field, `is longer than ${LIMITS.pathLength} characters`);
  if (CONTROL.test(value)) throw invalidMessage(field, 'contains control characters');
  return value;
}

export function checkClientMessageId(field: string, value: string): string {
  if (value.length > LIMITS.clientMessageIdLength) {
    throw invalidMessage(field, `is longer than ${LIMITS.clientMessageIdLength} characters`);
  }
  if (CONTROL.test(value)) throw invalidMessage(field, 'contains control characters');
  return value;
}

export function checkVersion(field: string, value: number): number {
  if (!Number.isInteger(value) || value < 0) throw invalidMessage(field, 'must be a non-negative integer');
  return value;
}

export function checkLine(field: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw invalidMessage(field, 'must be a line number from 1');
  return value;
}

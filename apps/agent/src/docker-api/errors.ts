/**
 * The one place where failures become Docker Engine API responses. Handlers throw `EngineError` (from the
 * engine) or `ApiError` (transport-level: bad query, bad body, unknown route); everything else is a bug and
 * answers 500 without leaking its message.
 */
import { EngineError, type EngineErrorCode } from '@berth/engine';
import { ZodError } from 'zod';

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

// Mirrors moby's errdefs -> HTTP status table so the CLI takes the same branches (e.g. 404 on create pulls).
const statusByCode: Record<EngineErrorCode, number> = {
  invalid_argument: 400,
  not_found: 404,
  conflict: 409,
  unauthorized: 401,
  forbidden: 403,
  digest_mismatch: 500,
  too_large: 400,
  unavailable: 503,
  not_modified: 304,
  failed: 500,
  internal: 500,
};

export interface MappedError {
  status: number;
  message: string;
  /** True when the error is a bug or an unexpected failure worth logging at error level. */
  unexpected: boolean;
}

export function mapError(error: unknown): MappedError {
  if (error instanceof ApiError) return { status: error.status, message: error.message, unexpected: false };
  if (error instanceof EngineError) {
    const status = statusByCode[error.code];
    return { status, message: error.message, unexpected: status >= 500 };
  }
  if (error instanceof ZodError) return { status: 400, message: zodMessage(error), unexpected: false };
  return { status: 500, message: 'internal server error', unexpected: true };
}

function zodMessage(error: ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'invalid request';
  const path = issue.path.map(String).join('.');
  return path ? `invalid ${path}: ${issue.message}` : issue.message;
}

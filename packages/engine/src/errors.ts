/**
 * The engine's one error type. Transports (Docker API, agent protocol, tRPC) map `code` to their own status
 * in one place each; nothing above the engine inspects messages.
 */
export const engineErrorCodes = [
  'invalid_argument', // malformed input: a bad reference, an invalid port, an unknown option
  'not_found', // no such image, container, volume, network, manifest or blob
  'conflict', // name in use, object in use, container running when it must not be
  'unauthorized', // the registry refused our credentials (or we had none)
  'forbidden', // the registry denied access to that repository
  'digest_mismatch', // content did not hash to what its descriptor promised
  'too_large', // a manifest or config over its size limit
  'unavailable', // a registry, runtime or tool could not be reached or is missing
  'not_modified', // already started / already stopped (Docker answers 304)
  'failed', // the operation ran and failed (a runtime error, a hostile layer)
  'internal', // a bug: an invariant that should have held did not
] as const;

export type EngineErrorCode = (typeof engineErrorCodes)[number];

export class EngineError extends Error {
  override readonly name = 'EngineError';
  readonly code: EngineErrorCode;

  constructor(code: EngineErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
  }

  static is(value: unknown, code?: EngineErrorCode): value is EngineError {
    return value instanceof EngineError && (code === undefined || value.code === code);
  }
}

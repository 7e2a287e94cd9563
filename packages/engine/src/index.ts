export { EngineError, type EngineErrorCode, engineErrorCodes } from './errors';

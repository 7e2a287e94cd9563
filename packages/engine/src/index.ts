export { Engine, type EngineOptions } from './engine';
export { EngineError, type EngineErrorCode, engineErrorCodes } from './errors';
export {
  type EngineEvent,
  type EngineEventType,
  EventBus,
  type EventFilter,
  matchesEventFilter,
} from './events';
export {
  familiarName,
  familiarString,
  formatReference,
  type ImageReference,
  parseReference,
} from './images/reference';
export type { RegistryCredentials } from './images/registry';
export type * from './images/types';
export type * from './networks/types';

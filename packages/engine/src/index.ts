export { EngineError, type EngineErrorCode, engineErrorCodes } from './errors';
export {
  type EngineEvent,
  type EngineEventType,
  EventBus,
  type EventFilter,
  matchesEventFilter,
} from './events';
export type * from './networks/types';

export type {
  BuildCacheEntry,
  BuildEvent,
  Builder,
  BuildOptions,
  BuildProgress,
  BuildResult,
} from './build/builder';
export type { CreateContainerRequest, HostConfig, RestartPolicy } from './containers/config';
export type { LogEntry, LogReadOptions } from './containers/logs';
export type { ContainerState } from './containers/record';
export {
  RecreateError,
  type RecreateOptions,
  type RecreateResult,
  type RecreateStep,
  recreateContainer,
} from './containers/recreate';
export type { Change } from './containers/rootfs';
export type { ContainerStats } from './containers/stats';
export type {
  ContainerInspect,
  ContainerStore,
  ContainerSummary,
  ExecSession,
  ListOptions,
  MountView,
} from './containers/store';
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
export type {
  NetworkCreateRequest,
  NetworkInspect,
  NetworkManager,
} from './networks/manager';
export type * from './networks/types';
export type { VolumeCreateRequest, VolumeInspect, VolumeStore } from './volumes/store';

export * from './containers';
export * from './fault-proxy';
export * from './images';
export * from './network';
export * from './registry';

export * from './fault-proxy';
export * from './images';
export * from './registry';

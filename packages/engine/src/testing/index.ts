export * from './images';
export * from './registry';

// The protocol module: the single contract imported by the agent and the extension.
export * from './additive';
export * from './argv';
export * from './flakeLock';
export * from './patterns';
export * from './messages';
export * from './results';
export * from './rules';
export * from './plan';

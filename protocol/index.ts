// The protocol module: the single contract imported by the agent and the extension.
export * from './patterns';
export * from './messages';
export * from './plan';

export * from './audit.ts';
export * from './auth.ts';
export * from './board.ts';
export * from './common.ts';
export * from './runtime.ts';

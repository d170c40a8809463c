export * from './catalog.ts';
export * from './echo-runner.ts';
export * from './loop/pricing.ts';
export * from './loop/tool-loop-runner.ts';
export * from './loop/types.ts';
export * from './runner.ts';
export * from './workspace/index.ts';
export * from './workspace/types.ts';

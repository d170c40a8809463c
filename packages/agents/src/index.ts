export * from './catalog.ts';
export * from './echo-runner.ts';
export * from './runner.ts';

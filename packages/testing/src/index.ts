export { createEchoRun } from './echo-run.ts';
export * from './fakes/anthropic.ts';
export {
  type GitHttpRequest,
  type GitHttpServer,
  type GitLogEntry,
  startGitHttpServer,
} from './fakes/git-http.ts';
export * from './fakes/github.ts';
export {
  type FakeGooseRecord,
  type FakeGooseScript,
  type FakeGooseStep,
  fakeGoosePath,
  writeGooseScript,
} from './fakes/goose.ts';
export {
  gooseComplete,
  gooseError,
  gooseLog,
  gooseText,
  gooseToolRequest,
  gooseToolResponse,
} from './fakes/goose-lines.ts';
export * from './fakes/ollama.ts';
export * from './fakes/openai.ts';
export {
  type FakeOpenHandsRequest,
  type FakeOpenHandsScriptOptions,
  FakeOpenHandsServer,
  type FakeOpenHandsStep,
  startFakeOpenHands,
} from './fakes/openhands.ts';
export {
  ohAction,
  ohAgentError,
  ohAgentMessage,
  ohConversationError,
  ohFinish,
  ohObservation,
  ohStateUpdate,
  ohStats,
  ohStatus,
  ohUserMessage,
} from './fakes/openhands-events.ts';
export * from './fakes/otlp.ts';
export * from './fakes/telegram.ts';
export { testRedisUrl, uniquePrefix } from './isolation.ts';
export {
  type LlmCompletion,
  type LocalLlm,
  type LocalLlmLoad,
  loadTinyLocalLlm,
} from './local-model/local-llm.ts';
export {
  type LocalCompletionRecord,
  type LocalOpenAIServer,
  startLocalOpenAI,
} from './local-model/local-openai-server.ts';
export { createTestDatabase, type TestDatabase } from './test-database.ts';

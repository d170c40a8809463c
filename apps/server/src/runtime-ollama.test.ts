import { startFakeOllama } from '@ccl/testing';
import { describeLoopRuntime } from './test-support/loop-runtime-scenarios.ts';

describeLoopRuntime({
  agentType: 'ollama',
  start: () => startFakeOllama(),
  env: (fake) => ({
    OLLAMA_HOST: (fake as unknown as { url: string }).url,
    OLLAMA_MODEL: 'qwen2.5-coder:7b',
  }),
  authFailure: null,
  serverError: { turn: { status: 500 }, message: /500|error/i },
});

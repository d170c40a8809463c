import { startFakeOpenAI } from '@ccl/testing';
import { describeLoopRuntime } from './test-support/loop-runtime-scenarios.ts';

describeLoopRuntime({
  agentType: 'openai',
  start: () => startFakeOpenAI({ apiKey: 'test-key' }),
  env: (fake) => ({ OPENAI_API_KEY: 'test-key', OPENAI_BASE_URL: (fake as unknown as { url: string }).url }),
  authFailure: { turn: { status: 401 }, message: /OPENAI_API_KEY rejected by the provider/ },
  serverError: { turn: { status: 503 }, message: /503|unavailable|server error/i },
});

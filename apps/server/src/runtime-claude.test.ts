import { startFakeAnthropic } from '@ccl/testing';
import { describeLoopRuntime } from './test-support/loop-runtime-scenarios.ts';

describeLoopRuntime({
  agentType: 'claude',
  start: () => startFakeAnthropic({ apiKey: 'test-key' }),
  env: (fake) => ({
    ANTHROPIC_API_KEY: 'test-key',
    ANTHROPIC_BASE_URL: (fake as unknown as { url: string }).url,
  }),
  authFailure: { turn: { status: 401 }, message: /ANTHROPIC_API_KEY rejected by the provider/ },
  serverError: { turn: { status: 529 }, message: /529|overloaded/i },
});

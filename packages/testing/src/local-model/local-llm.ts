import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Token } from 'node-llama-cpp';
import { writeTinyLlama } from './tiny-llama.ts';

/** One generation, counted by the model's own tokenizer. */
export interface LlmCompletion {
  text: string;
  promptTokens: number;
  completionTokens: number;
  /** `length` when `maxTokens` cut it short, `stop` when the model ended it (EOS). */
  finishReason: 'stop' | 'length';
}

export interface LlmRequest {
  prompt: string;
  maxTokens: number;
  temperature: number;
  seed: number;
  /** Each piece of text as soon as its token is sampled. */
  onText(delta: string): void;
  /** Stops sampling (the client went away). */
  signal: AbortSignal;
}

/** A real GGUF model running in llama.cpp on the CPU. */
export interface LocalLlm {
  readonly modelName: string;
  readonly contextSize: number;
  /** Counts tokens as `complete` does (BOS included), for context-length checks. */
  countTokens(prompt: string): number;
  /** Runs one completion at a time; later calls wait their turn. */
  complete(req: LlmRequest): Promise<LlmCompletion>;
  dispose(): Promise<void>;
}

export type LocalLlmLoad = { ok: true; llm: LocalLlm } | { ok: false; reason: string };

const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

/**
 * Loads node-llama-cpp's prebuilt CPU binary and a tiny random llama model
 * written to a temp dir. Never downloads or compiles anything: when the optional
 * package or its binary is missing, says why instead, so tests can skip.
 */
export async function loadTinyLocalLlm(contextSize = 8192): Promise<LocalLlmLoad> {
  let lib: typeof import('node-llama-cpp');
  try {
    lib = await import('node-llama-cpp');
  } catch (error) {
    return { ok: false, reason: `node-llama-cpp is not installed (optional dependency): ${message(error)}` };
  }
  let llama: Awaited<ReturnType<typeof lib.getLlama>>;
  try {
    llama = await lib.getLlama({
      gpu: false,
      // Only a prebuilt binary from the @node-llama-cpp/* packages; no llama.cpp download or build.
      build: 'never',
      skipDownload: true,
      progressLogs: false,
      logLevel: lib.LlamaLogLevel.error,
      maxThreads: 2,
    });
  } catch (error) {
    return { ok: false, reason: `no usable llama.cpp binary for this platform: ${message(error)}` };
  }
  const dir = await mkdtemp(join(tmpdir(), 'ccl-tiny-llama-'));
  try {
    const modelPath = await writeTinyLlama(join(dir, 'tiny-llama.gguf'));
    const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
    const context = await model.createContext({ contextSize, sequences: 1 });
    const sequence = context.getSequence();
    const bos = model.tokens.bos;
    const tokenize = (prompt: string) => [...(bos === null ? [] : [bos]), ...model.tokenize(prompt)];

    async function generate(req: LlmRequest): Promise<LlmCompletion> {
      await sequence.clearHistory();
      const prompt = tokenize(req.prompt);
      const generated: Token[] = [];
      let text = '';
      let finishReason: LlmCompletion['finishReason'] = 'stop';
      // EOS ends the loop without being yielded, so it is not counted as output.
      for await (const token of sequence.evaluate(prompt, { temperature: req.temperature, seed: req.seed })) {
        const piece = model.detokenize([token], false, generated);
        generated.push(token);
        text += piece;
        if (piece) req.onText(piece);
        if (req.signal.aborted) break;
        if (generated.length >= req.maxTokens) {
          finishReason = 'length';
          break;
        }
      }
      return { text, promptTokens: prompt.length, completionTokens: generated.length, finishReason };
    }

    let queue: Promise<unknown> = Promise.resolve();
    const llm: LocalLlm = {
      modelName: 'ccl-tiny-random-llama',
      contextSize: context.contextSize,
      countTokens: (prompt) => tokenize(prompt).length,
      complete(req) {
        const run = queue.then(() => generate(req));
        queue = run.catch(() => undefined);
        return run;
      },
      async dispose() {
        await llama.dispose();
        await rm(dir, { recursive: true, force: true });
      },
    };
    return { ok: true, llm };
  } catch (error) {
    await llama.dispose();
    await rm(dir, { recursive: true, force: true });
    return { ok: false, reason: `llama.cpp could not load the tiny test model: ${message(error)}` };
  }
}

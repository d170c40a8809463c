import { writeFile } from 'node:fs/promises';
import { encodeGguf, type GgufTensor, type GgufValue } from './gguf-writer.ts';

/**
 * A llama-architecture model small enough to generate at test time (~430 KB):
 * random weights, so it writes gibberish, but llama.cpp loads, tokenizes and
 * samples it exactly as it would a real checkpoint.
 */
export interface TinyLlamaShape {
  embedding: number;
  heads: number;
  layers: number;
  feedForward: number;
  contextLength: number;
  /** Seeds the weights, so the same seed gives the same file. */
  seed: number;
}

export const TINY_LLAMA: TinyLlamaShape = {
  embedding: 64,
  heads: 4,
  layers: 2,
  feedForward: 128,
  contextLength: 8192,
  seed: 7,
};

/** SentencePiece marks a word start with U+2581. */
const SPACE = '\u2581';
/** llama.cpp token types. */
const NORMAL = 1;
const UNKNOWN = 2;
const CONTROL = 3;
const BYTE = 6;

/**
 * A SentencePiece-style vocabulary: the three control tokens, byte tokens for
 * newline and tab (llama.cpp looks the newline up by its byte token), and every
 * printable ASCII character with and without a leading space. Other text maps to
 * `<unk>`, which is enough for prompts written in English and JSON.
 */
export function tinyVocab(): { tokens: string[]; scores: number[]; types: number[] } {
  const tokens = ['<unk>', '<s>', '</s>', '<0x09>', '<0x0A>', SPACE];
  const types = [UNKNOWN, CONTROL, CONTROL, BYTE, BYTE, NORMAL];
  const scores = [0, 0, 0, 0, 0, -1];
  for (let code = 0x21; code <= 0x7e; code++) {
    const ch = String.fromCharCode(code);
    tokens.push(ch, SPACE + ch);
    types.push(NORMAL, NORMAL);
    // Higher scores merge first, so " x" wins over "▁" followed by "x".
    scores.push(-2, -1.5);
  }
  return { tokens, scores, types };
}

/** mulberry32: a tiny seeded PRNG, so the weights (and the model's output) are reproducible. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function tinyTensors(shape: TinyLlamaShape, vocabSize: number): GgufTensor[] {
  const next = random(shape.seed);
  const E = shape.embedding;
  const F = shape.feedForward;
  // Uniform in ±1/sqrt(fan-in), so activations stay in a sane range through the layers.
  const weights = (name: string, fanIn: number, fanOut: number): GgufTensor => {
    const scale = 1 / Math.sqrt(fanIn);
    const data = new Float32Array(fanIn * fanOut);
    for (let i = 0; i < data.length; i++) data[i] = (next() * 2 - 1) * scale;
    return { name, dims: [fanIn, fanOut], data };
  };
  const ones = (name: string): GgufTensor => ({ name, dims: [E], data: new Float32Array(E).fill(1) });

  const tensors = [weights('token_embd.weight', E, vocabSize), ones('output_norm.weight')];
  tensors.push(weights('output.weight', E, vocabSize));
  for (let i = 0; i < shape.layers; i++) {
    tensors.push(
      ones(`blk.${i}.attn_norm.weight`),
      weights(`blk.${i}.attn_q.weight`, E, E),
      weights(`blk.${i}.attn_k.weight`, E, E),
      weights(`blk.${i}.attn_v.weight`, E, E),
      weights(`blk.${i}.attn_output.weight`, E, E),
      ones(`blk.${i}.ffn_norm.weight`),
      weights(`blk.${i}.ffn_gate.weight`, E, F),
      weights(`blk.${i}.ffn_up.weight`, E, F),
      weights(`blk.${i}.ffn_down.weight`, F, E),
    );
  }
  return tensors;
}

/** The GGUF bytes of a tiny random llama model. */
export function tinyLlamaGguf(shape: TinyLlamaShape = TINY_LLAMA): Buffer {
  const vocab = tinyVocab();
  const u32 = (value: number): GgufValue => ({ type: 'u32', value });
  const metadata: Record<string, GgufValue> = {
    'general.architecture': { type: 'string', value: 'llama' },
    'general.name': { type: 'string', value: 'ccl-tiny-random-llama' },
    'general.file_type': u32(0),
    'llama.context_length': u32(shape.contextLength),
    'llama.embedding_length': u32(shape.embedding),
    'llama.block_count': u32(shape.layers),
    'llama.feed_forward_length': u32(shape.feedForward),
    'llama.rope.dimension_count': u32(shape.embedding / shape.heads),
    'llama.attention.head_count': u32(shape.heads),
    'llama.attention.head_count_kv': u32(shape.heads),
    'llama.attention.layer_norm_rms_epsilon': { type: 'f32', value: 1e-5 },
    'llama.vocab_size': u32(vocab.tokens.length),
    'tokenizer.ggml.model': { type: 'string', value: 'llama' },
    'tokenizer.ggml.tokens': { type: 'string[]', value: vocab.tokens },
    'tokenizer.ggml.scores': { type: 'f32[]', value: vocab.scores },
    'tokenizer.ggml.token_type': { type: 'i32[]', value: vocab.types },
    'tokenizer.ggml.unknown_token_id': u32(0),
    'tokenizer.ggml.bos_token_id': u32(1),
    'tokenizer.ggml.eos_token_id': u32(2),
    'tokenizer.ggml.add_bos_token': { type: 'bool', value: true },
    'tokenizer.ggml.add_eos_token': { type: 'bool', value: false },
  };
  return encodeGguf(metadata, tinyTensors(shape, vocab.tokens.length));
}

/** Writes the tiny model to `path` (a `.gguf` file) and returns the path. */
export async function writeTinyLlama(path: string, shape: TinyLlamaShape = TINY_LLAMA): Promise<string> {
  await writeFile(path, tinyLlamaGguf(shape));
  return path;
}

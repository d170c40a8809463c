/**
 * A minimal GGUF v3 encoder: metadata key/values and F32 tensors, which is all
 * a tiny test model needs. Layout (little-endian): header, metadata, tensor
 * infos, padding to `general.alignment`, then each tensor's data, aligned.
 */

export type GgufValue =
  | { type: 'u32'; value: number }
  | { type: 'i32'; value: number }
  | { type: 'f32'; value: number }
  | { type: 'bool'; value: boolean }
  | { type: 'string'; value: string }
  | { type: 'string[]'; value: readonly string[] }
  | { type: 'f32[]'; value: readonly number[] }
  | { type: 'i32[]'; value: readonly number[] };

export interface GgufTensor {
  name: string;
  /** ggml order: the first dimension is the one that varies fastest. */
  dims: readonly number[];
  data: Float32Array;
}

/** GGUF's value type codes. */
const T = { u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9 } as const;
const GGML_TYPE_F32 = 0;
const ALIGNMENT = 32;
const MAGIC = 0x46554747; // "GGUF" read as a little-endian u32

/** Appends little-endian values to a growing list of buffers. */
class ByteSink {
  readonly parts: Buffer[] = [];
  length = 0;

  private push(buf: Buffer) {
    this.parts.push(buf);
    this.length += buf.length;
  }
  u32(v: number) {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.push(b);
  }
  i32(v: number) {
    const b = Buffer.alloc(4);
    b.writeInt32LE(v);
    this.push(b);
  }
  u64(v: number) {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  f32(v: number) {
    const b = Buffer.alloc(4);
    b.writeFloatLE(v);
    this.push(b);
  }
  u8(v: number) {
    this.push(Buffer.from([v]));
  }
  string(s: string) {
    const bytes = Buffer.from(s, 'utf8');
    this.u64(bytes.length);
    this.push(bytes);
  }
  raw(buf: Buffer) {
    this.push(buf);
  }
  padTo(alignment: number) {
    const pad = (alignment - (this.length % alignment)) % alignment;
    if (pad) this.push(Buffer.alloc(pad));
  }
}

function writeValue(out: ByteSink, v: GgufValue) {
  switch (v.type) {
    case 'u32':
      out.u32(T.u32);
      return out.u32(v.value);
    case 'i32':
      out.u32(T.i32);
      return out.i32(v.value);
    case 'f32':
      out.u32(T.f32);
      return out.f32(v.value);
    case 'bool':
      out.u32(T.bool);
      return out.u8(v.value ? 1 : 0);
    case 'string':
      out.u32(T.string);
      return out.string(v.value);
    case 'string[]':
      out.u32(T.array);
      out.u32(T.string);
      out.u64(v.value.length);
      for (const s of v.value) out.string(s);
      return;
    case 'f32[]':
      out.u32(T.array);
      out.u32(T.f32);
      out.u64(v.value.length);
      for (const n of v.value) out.f32(n);
      return;
    case 'i32[]':
      out.u32(T.array);
      out.u32(T.i32);
      out.u64(v.value.length);
      for (const n of v.value) out.i32(n);
      return;
  }
}

const alignUp = (n: number) => Math.ceil(n / ALIGNMENT) * ALIGNMENT;

/** The bytes of a GGUF v3 file holding `metadata` and `tensors` (all F32). */
export function encodeGguf(metadata: Record<string, GgufValue>, tensors: readonly GgufTensor[]): Buffer {
  const out = new ByteSink();
  out.u32(MAGIC);
  out.u32(3);
  out.u64(tensors.length);
  const entries = Object.entries(metadata);
  out.u64(entries.length + 1);
  out.string('general.alignment');
  writeValue(out, { type: 'u32', value: ALIGNMENT });
  for (const [key, value] of entries) {
    out.string(key);
    writeValue(out, value);
  }

  let offset = 0;
  for (const t of tensors) {
    const count = t.dims.reduce((a, b) => a * b, 1);
    if (count !== t.data.length)
      throw new Error(`gguf: ${t.name} has ${t.data.length} values, dims say ${count}`);
    out.string(t.name);
    out.u32(t.dims.length);
    for (const d of t.dims) out.u64(d);
    out.u32(GGML_TYPE_F32);
    out.u64(offset);
    offset = alignUp(offset + t.data.byteLength);
  }
  out.padTo(ALIGNMENT);
  for (const t of tensors) {
    out.raw(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
    out.padTo(ALIGNMENT);
  }
  return Buffer.concat(out.parts);
}

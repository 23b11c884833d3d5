/**
 * How vectors are stored (migrations 0030/0031): `embeddings.vector real[]`
 * holds the L2-normalised vector, `embeddings.q8 bytea` the same vector
 * quantized to int8 for the in-process search index: bytes 0-3 are a
 * little-endian float32 scale `s`, then one signed byte `c[i]` per dimension,
 * with `vector[i] ≈ c[i] * s` (|error| <= s / 2).
 */

/** The vector scaled to unit length (a zero vector stays zero). Non-finite values are a provider bug: they become 0. */
export const normalize = (vector: ReadonlyArray<number>): Array<number> => {
  let norm = 0
  const clean = vector.map((x) => (Number.isFinite(x) ? x : 0))
  for (const x of clean) norm += x * x
  if (norm === 0) return clean
  const inverse = 1 / Math.sqrt(norm)
  return clean.map((x) => x * inverse)
}

/** `{0.1,-0.2,...}`: a `real[]` literal, bound as text so PostgreSQL converts it for the column. */
export const vectorLiteral = (vector: ReadonlyArray<number>): string =>
  `{${vector.map((x) => Math.fround(x)).join(",")}}`

export const Q8_HEADER_BYTES = 4

export const packQ8 = (vector: ReadonlyArray<number>): Uint8Array => {
  let max = 0
  for (const x of vector) max = Math.max(max, Math.abs(x))
  const scale = max === 0 ? 0 : max / 127
  const out = new Uint8Array(Q8_HEADER_BYTES + vector.length)
  const view = new DataView(out.buffer)
  view.setFloat32(0, scale, true)
  for (let i = 0; i < vector.length; i++) {
    const code = scale === 0 ? 0 : Math.max(-127, Math.min(127, Math.round((vector[i] ?? 0) / scale)))
    view.setInt8(Q8_HEADER_BYTES + i, code)
  }
  return out
}

/** The scale and codes of a packed vector, or undefined when it is not `dimension` long. */
export const unpackQ8 = (
  bytes: Uint8Array,
  dimension: number
): { readonly scale: number; readonly codes: Int8Array } | undefined => {
  if (bytes.byteLength !== Q8_HEADER_BYTES + dimension) return undefined
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const scale = view.getFloat32(0, true)
  if (!Number.isFinite(scale)) return undefined
  return { scale, codes: new Int8Array(bytes.buffer, bytes.byteOffset + Q8_HEADER_BYTES, dimension) }
}

export const dot = (a: ReadonlyArray<number>, b: ReadonlyArray<number>): number => {
  let sum = 0
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) sum += (a[i] ?? 0) * (b[i] ?? 0)
  return sum
}

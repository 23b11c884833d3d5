import { ALPHABET_SIZE, type Normalized, normalizeToString, SPACE_SYMBOL } from "./text.ts"

/**
 * Multi-pattern matcher over normalised text (see text.ts): one automaton,
 * one linear pass per text, whatever the number of patterns. Patterns use a
 * tiny syntax: `*` at the start allows a match inside a word (German compounds
 * such as "Strom*rechnung*"), `*` at the end allows a longer word
 * ("invoice*" matches "invoices"); otherwise a pattern must match whole words.
 */
export interface Pattern {
  readonly text: string
  readonly startBoundary: boolean
  readonly endBoundary: boolean
  /** Caller's id for the pattern's owner (e.g. a lexicon entry). */
  readonly owner: number
}

export const parsePattern = (raw: string, owner: number): Pattern => {
  const startBoundary = !raw.startsWith("*")
  const endBoundary = !raw.endsWith("*")
  const core = raw.slice(startBoundary ? 0 : 1, endBoundary ? raw.length : raw.length - 1)
  return { text: normalizeToString(core), startBoundary, endBoundary, owner }
}

export interface Matcher {
  readonly patterns: ReadonlyArray<Pattern>
  /** Calls `onMatch(patternIndex)` for every boundary-valid occurrence. */
  readonly scan: (norm: Normalized, onMatch: (patternIndex: number) => void) => void
}

export const compile = (patterns: ReadonlyArray<Pattern>): Matcher => {
  // trie
  const goto: Array<Int32Array> = [new Int32Array(ALPHABET_SIZE).fill(-1)]
  const outputs: Array<Array<number>> = [[]]
  const lengths: Array<number> = []
  patterns.forEach((p, index) => {
    let node = 0
    for (let i = 0; i < p.text.length; i++) {
      const code = p.text.charCodeAt(i)
      const sym = code === 32 ? SPACE_SYMBOL : code >= 97 ? code - 97 : code - 48 + 26
      const row = goto[node]
      if (row === undefined) throw new Error("corrupt trie")
      let next = row[sym] ?? -1
      if (next === -1) {
        next = goto.length
        goto.push(new Int32Array(ALPHABET_SIZE).fill(-1))
        outputs.push([])
        row[sym] = next
      }
      node = next
    }
    outputs[node]?.push(index)
    lengths[index] = p.text.length
  })

  // failure links by BFS, then a full transition table (a DFA)
  const nodeCount = goto.length
  const delta = new Int32Array(nodeCount * ALPHABET_SIZE)
  const fail = new Int32Array(nodeCount)
  const queue: Array<number> = []
  const root = goto[0]
  if (root === undefined) throw new Error("corrupt trie")
  for (let s = 0; s < ALPHABET_SIZE; s++) {
    const next = root[s] ?? -1
    if (next === -1) {
      delta[s] = 0
    } else {
      delta[s] = next
      fail[next] = 0
      queue.push(next)
    }
  }
  for (let head = 0; head < queue.length; head++) {
    const node = queue[head] ?? 0
    const row = goto[node]
    if (row === undefined) throw new Error("corrupt trie")
    const f = fail[node] ?? 0
    const inherited = outputs[f] ?? []
    if (inherited.length > 0) outputs[node] = [...(outputs[node] ?? []), ...inherited]
    for (let s = 0; s < ALPHABET_SIZE; s++) {
      const next = row[s] ?? -1
      if (next === -1) {
        delta[node * ALPHABET_SIZE + s] = delta[f * ALPHABET_SIZE + s] ?? 0
      } else {
        delta[node * ALPHABET_SIZE + s] = next
        fail[next] = delta[f * ALPHABET_SIZE + s] ?? 0
        queue.push(next)
      }
    }
  }
  const out: ReadonlyArray<ReadonlyArray<number>> = outputs

  const scan = (norm: Normalized, onMatch: (patternIndex: number) => void) => {
    const { symbols, length } = norm
    let state = 0
    for (let i = 0; i < length; i++) {
      state = delta[state * ALPHABET_SIZE + (symbols[i] ?? SPACE_SYMBOL)] ?? 0
      const hits = out[state]
      if (hits === undefined || hits.length === 0) continue
      for (let h = 0; h < hits.length; h++) {
        const index = hits[h] ?? 0
        const p = patterns[index]
        if (p === undefined) continue
        const start = i - (lengths[index] ?? 0) + 1
        if (p.startBoundary && start > 0 && symbols[start - 1] !== SPACE_SYMBOL) continue
        if (p.endBoundary && i + 1 < length && symbols[i + 1] !== SPACE_SYMBOL) continue
        onMatch(index)
      }
    }
  }
  return { patterns, scan }
}

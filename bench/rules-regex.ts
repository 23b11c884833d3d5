/**
 * What one re2js match costs over 1 / 4 / 8 / 16 / 64 KiB of text, for regexes a user may write within
 * the schema's caps (500 characters, 1,000 instructions): the numbers behind
 * `EvaluationLimits.maxRegexBodyChars` and `EvaluationBudgets` (src/rules/RuleEvaluator.ts).
 *
 * - `test`: the verdict (`regex.test`, DFA first, NFA when the DFA gives up), what rules use to decide;
 * - `find`: the match position (`matcher().find()`, with captures: NFA), what a dry run uses for the
 *   excerpt of a passed condition.
 * Texts: random lower-case letters and spaces (the DFA's worst case: many states, no digit to
 * match), and repetitive prose.
 *
 * Run: npx tsx bench/rules-regex.ts
 */
import { seededRandom } from "../src/platform/seededRandom.ts"
import { checkRegex } from "../src/rules/regex.ts"

const SIZES_KIB = [1, 4, 8, 16, 64]

const randomText = (chars: number, alphabet: string, seed = 12345): string => {
  const random = seededRandom(seed)
  const out: Array<string> = []
  for (let i = 0; i < chars; i++) out.push(alphabet[Math.floor(random() * alphabet.length)] ?? " ")
  return out.join("")
}

const prose = (chars: number): string => {
  const words = "lorem ipsum dolor sit amet rechnung invoice betrag consectetur adipiscing elit sed do".split(" ")
  let s = ""
  for (let i = 0; s.length < chars; i++) s += `${words[(i * 7919) % words.length]}${i % 13 === 0 ? "\n" : " "}`
  return s.slice(0, chars)
}

const classes = ["[a-m]", "[n-z]", "[aeiou]", "[b-y]", "[c-x]", "[d-w]", "[e-v]", "[f-u]", "[g-t]"]
const digits = ["[0-9]", "[0-5]", "[6-9]", "[0-3]", "[4-7]", "[1-8]", "[2-6]", "[3-9]", "[0-4]"]
/** n alternatives `class.{100}digit`: the DFA explodes, re2js falls back to its NFA. */
export const heavyRegex = (alternatives: number, offset = 0): string =>
  Array.from(
    { length: alternatives },
    (_, i) => `${classes[(i + offset) % classes.length]}.{100}${digits[(i + offset) % digits.length]}`
  ).join("|")

const regexes: ReadonlyArray<readonly [string, string]> = [
  ["typical: (rechnung|invoice)\\s+nr\\.?\\s*\\d+", "(rechnung|invoice)\\s+nr\\.?\\s*\\d+"],
  ["heavy, 7 alternatives", heavyRegex(7)],
  ["heavy, 9 alternatives (near the cap)", heavyRegex(9)]
]

const best = (f: () => unknown, rounds = 2): number => {
  let min = Number.POSITIVE_INFINITY
  for (let r = 0; r < rounds; r++) {
    const start = performance.now()
    f()
    min = Math.min(min, performance.now() - start)
  }
  return min
}

const letters = "abcdefghijklmnopqrstuvwxyz "
console.log(`re2js, case-insensitive (the rules' default), best of 2, milliseconds per match`)
for (const [label, pattern] of regexes) {
  const checked = checkRegex(pattern)
  if (checked._tag !== "Ok") throw new Error(`${label}: ${checked.problem}`)
  console.log(`\n${label} (program size ${checked.programSize})`)
  for (const [textLabel, make] of [
    ["random letters", (n: number) => randomText(n, letters)],
    ["prose", prose]
  ] as const) {
    const row = SIZES_KIB.map((kib) => {
      const text = make(kib * 1024)
      const test = best(() => checked.regex.test(text))
      const find = best(() => checked.regex.matcher(text).find())
      return `${kib} KiB test ${test.toFixed(1)} find ${find.toFixed(1)}`
    })
    console.log(`  ${textLabel.padEnd(15)} ${row.join(" | ")}`)
  }
}
const needle = "unsubscribe"
const big = prose(64 * 1024)
console.log(
  `\nbaseline: String.includes('${needle}') on 64 KiB: ${best(() => big.toLowerCase().includes(needle), 5).toFixed(2)} ms (lower-casing included)`
)

import { spawnSync } from "node:child_process"

/** One sample of the Prometheus text format. */
export interface Sample {
  readonly name: string
  readonly labels: Readonly<Record<string, string>>
  readonly value: number
}

export interface Family {
  readonly name: string
  readonly type: string | undefined
  readonly help: string | undefined
  readonly samples: ReadonlyArray<Sample>
}

const sampleLine = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$/
const labelPair = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?/y

const parseLabels = (text: string): Record<string, string> => {
  const labels: Record<string, string> = {}
  labelPair.lastIndex = 0
  while (labelPair.lastIndex < text.length) {
    const match = labelPair.exec(text)
    if (match === null) throw new Error(`malformed labels: {${text}}`)
    labels[match[1] ?? ""] = (match[2] ?? "").replace(/\\(.)/g, (_, char: string) => (char === "n" ? "\n" : char))
  }
  return labels
}

const parseValue = (text: string): number =>
  text === "+Inf" ? Number.POSITIVE_INFINITY : text === "-Inf" ? Number.NEGATIVE_INFINITY : Number(text)

/**
 * Parses the Prometheus text exposition format into families. A histogram's `_bucket`,
 * `_sum` and `_count` samples belong to the family its `# TYPE` line names.
 */
export const parseExposition = (text: string): Map<string, Family> => {
  const families = new Map<string, { name: string; type?: string; help?: string; samples: Array<Sample> }>()
  const family = (name: string) => {
    let found = families.get(name)
    if (found === undefined) {
      found = { name, samples: [] }
      families.set(name, found)
    }
    return found
  }
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue
    const comment = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line)
    if (comment !== null) {
      const target = family(comment[2] ?? "")
      if (comment[1] === "HELP") target.help = comment[3] ?? ""
      else target.type = comment[3] ?? ""
      continue
    }
    if (line.startsWith("#")) continue
    const match = sampleLine.exec(line)
    if (match === null) throw new Error(`malformed sample line: ${line}`)
    const name = match[1] ?? ""
    const base = name.replace(/_(bucket|sum|count)$/, "")
    const owner = base !== name && families.get(base)?.type === "histogram" ? base : name
    family(owner).samples.push({ name, labels: parseLabels(match[3] ?? ""), value: parseValue(match[4] ?? "") })
  }
  return new Map(
    [...families].map(([name, value]) => [
      name,
      { name, type: value.type, help: value.help, samples: value.samples } satisfies Family
    ])
  )
}

/** Samples of one family whose labels include all of `labels`. */
export const samplesOf = (
  families: Map<string, Family>,
  name: string,
  labels: Record<string, string> = {}
): ReadonlyArray<Sample> =>
  (families.get(name.replace(/_(bucket|sum|count)$/, ""))?.samples ?? families.get(name)?.samples ?? []).filter(
    (sample) => sample.name === name && Object.entries(labels).every(([key, value]) => sample.labels[key] === value)
  )

export const promtoolPath = (): string | undefined => {
  const result = spawnSync("promtool", ["--version"], { encoding: "utf8" })
  return result.status === 0 ? "promtool" : undefined
}

export interface PromtoolResult {
  readonly status: number | null
  readonly output: string
}

/** Runs promtool with the given arguments (and stdin); output is stdout and stderr together. */
export const promtool = (args: ReadonlyArray<string>, input?: string): PromtoolResult => {
  const result = spawnSync("promtool", [...args], { encoding: "utf8", ...(input === undefined ? {} : { input }) })
  return { status: result.status, output: `${result.stdout}${result.stderr}` }
}

/**
 * Metric names a PromQL expression selects. Good enough for our own rules and dashboard,
 * which always write `name{...}`, `name[...]` or a bare name: identifiers that are not
 * functions, keywords or label names of a `by`/`without` clause.
 */
export const metricNamesIn = (expr: string): ReadonlyArray<string> => {
  const withoutStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""')
  const withoutGroupings = withoutStrings.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, "")
  const withoutMatchers = withoutGroupings
    .replace(/\{[^}]*\}/g, "{}")
    .replace(/\[[^\]]*\]/g, "[]")
    .replace(/(^|[^a-zA-Z0-9_:])\d+(\.\d+)?(e[+-]?\d+)?/g, "$1")
  const names = new Set<string>()
  for (const match of withoutMatchers.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(\(?)/g)) {
    const name = match[1] ?? ""
    if (match[2] === "(") continue // a function call
    if (promqlWords.has(name) || /^\d/.test(name)) continue
    names.add(name)
  }
  return [...names]
}

/** Label names of the grouping clauses (`by`, `without`, `on`, `ignoring`) of an expression. */
export const groupingLabelsIn = (expr: string): ReadonlyArray<string> => {
  const withoutStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""')
  const labels = new Set<string>()
  for (const match of withoutStrings.matchAll(/\b(?:by|without|on|ignoring)\s*\(([^)]*)\)/g)) {
    for (const label of (match[1] ?? "").split(",")) if (label.trim() !== "") labels.add(label.trim())
  }
  return [...labels]
}

/** Each `name{matchers}` selector of an expression, with the label names its matchers use. */
export const selectorsIn = (
  expr: string
): ReadonlyArray<{ readonly name: string; readonly labels: ReadonlyArray<string> }> => {
  const withoutStrings = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""')
  return [...withoutStrings.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{([^}]*)\}/g)].map((match) => ({
    name: match[1] ?? "",
    labels: [...(match[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)/g)].map(
      (matcher) => matcher[1] ?? ""
    )
  }))
}

const promqlWords = new Set([
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "and",
  "or",
  "unless",
  "bool",
  "offset",
  "inf",
  "nan",
  "Inf",
  "NaN",
  "le"
])

/**
 * Regex conditions on the server: compiled with re2js (linear-time RE2), bounded by program size.
 * Provides the contract's `RegexSyntax` (the check rule decoding needs) and the compile helpers the
 * evaluator uses. Kept out of src/contract so the web app's bundle carries no RE2 engine.
 */
import { Effect, Layer, Schema } from "effect"
import { RE2JS, RE2JSSyntaxException } from "re2js"
import { RegexSyntax, RuleInput, RuleLimits, ruleParseOptions } from "../contract/rules/Rule.ts"

/** The re2js flags a regex condition compiles with. */
export const regexFlags = (caseSensitive: boolean | undefined): number =>
  caseSensitive === true ? 0 : RE2JS.CASE_INSENSITIVE

export type RegexCheck =
  | { readonly _tag: "Ok"; readonly regex: RE2JS; readonly programSize: number }
  | { readonly _tag: "Invalid"; readonly problem: string }

const regexProblem = (error: unknown, pattern: string): string => {
  if (error instanceof RE2JSSyntaxException) {
    // re2js applies flags as a "(?i)" prefix, which then shows up in the offending fragment
    const input = error.input ?? ""
    const fragment = input.startsWith("(?i)") && !pattern.startsWith("(?i)") ? input.slice(4) : input
    return fragment.length > 0 ? `${error.error}: \`${fragment}\`` : error.error
  }
  const message = error instanceof Error ? error.message : String(error)
  return message.replace(/^error parsing regexp: /, "")
}

/**
 * Compiles a pattern with re2js and checks its size. `problem` is a short human-readable reason,
 * e.g. "invalid regex: missing closing ): `(abc`".
 */
export const checkRegex = (pattern: string, caseSensitive?: boolean): RegexCheck => {
  let regex: RE2JS
  try {
    regex = RE2JS.compile(pattern.normalize("NFC"), regexFlags(caseSensitive))
  } catch (error) {
    return { _tag: "Invalid", problem: `invalid regex: ${regexProblem(error, pattern)}` }
  }
  const programSize = regex.programSize()
  if (programSize > RuleLimits.regexMaxProgramSize) {
    return {
      _tag: "Invalid",
      problem:
        `regex too complex: program size ${programSize} exceeds ${RuleLimits.regexMaxProgramSize}` +
        " (use smaller bounded repeats such as {0,50} instead of {0,1000})"
    }
  }
  return { _tag: "Ok", regex, programSize }
}

/** The contract's regex check, with re2js. */
export const re2Syntax: RegexSyntax["Service"] = {
  check: (pattern, caseSensitive) => {
    const checked = checkRegex(pattern, caseSensitive)
    return checked._tag === "Ok" ? { _tag: "Ok", programSize: checked.programSize } : checked
  }
}

export const RegexSyntaxLive = Layer.succeed(RegexSyntax, re2Syntax)

/**
 * `RuleInput` with the re2js check built in: needs no service, so it also decodes synchronously
 * (`Schema.decodeUnknownSync`/`Result`) for the importer and tests.
 */
export const CheckedRuleInput = RuleInput.pipe(
  Schema.middlewareDecoding((decoded) => Effect.provideService(decoded, RegexSyntax, re2Syntax))
)

/** Decodes untrusted input (an API body, a stored JSON document) into a rule. */
export const decodeRuleInput = (input: unknown) => Schema.decodeUnknownEffect(CheckedRuleInput)(input, ruleParseOptions)

import { field } from "../harness/http.ts"

/** Reading the served OpenAPI document in tests that walk every operation. */

export type Json = unknown
export const record = (value: Json): Record<string, Json> =>
  typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, Json>) : {}

/** A minimal valid value for a JSON schema (objects with their required properties), so payload decoding passes. */
export const example = (schema: Json, document: Json, depth = 0): Json => {
  const s = record(schema)
  if (depth > 8) return null
  if (typeof s["$ref"] === "string") {
    const name = s["$ref"].split("/").at(-1) ?? ""
    return example(field(document, "components", "schemas", name), document, depth + 1)
  }
  for (const key of ["anyOf", "oneOf", "allOf"]) {
    const options = s[key]
    if (Array.isArray(options) && options.length > 0) return example(options[0], document, depth + 1)
  }
  if (Array.isArray(s["enum"]) && s["enum"].length > 0) return s["enum"][0]
  if ("const" in s) return s["const"]
  switch (s["type"]) {
    case "object": {
      const properties = record(s["properties"])
      const required = Array.isArray(s["required"]) ? s["required"].map(String) : []
      return Object.fromEntries(required.map((key) => [key, example(properties[key], document, depth + 1)]))
    }
    case "array":
      return []
    case "integer":
    case "number":
      return typeof s["minimum"] === "number" ? s["minimum"] : 1
    case "boolean":
      return false
    case "null":
      return null
    default:
      return s["format"] === "uuid" ? crypto.randomUUID() : "isolation-probe"
  }
}

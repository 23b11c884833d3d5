/**
 * Reading the served OpenAPI document, so the HTTP suites cover every operation it lists without
 * naming them: operations, their parameters and request bodies, minimal valid values, and the
 * places in a body where a string goes.
 */

export type Json = unknown

export const record = (value: Json): Record<string, Json> =>
  typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, Json>) : {}

const list = (value: Json): ReadonlyArray<Json> => (Array.isArray(value) ? value : [])

export interface Parameter {
  readonly name: string
  readonly in: "path" | "query" | "header" | "cookie"
  readonly required: boolean
  readonly schema: Json
}

export interface Operation {
  readonly method: string
  /** The OpenAPI path template, e.g. `/api/v1/jobs/{id}`. */
  readonly template: string
  readonly key: string
  readonly parameters: ReadonlyArray<Parameter>
  /** The JSON request body's schema, when the operation takes one. */
  readonly body: Json | undefined
  readonly bodyRequired: boolean
  readonly operation: Record<string, Json>
}

export const operationsOf = (document: Json): ReadonlyArray<Operation> => {
  const operations: Array<Operation> = []
  for (const [template, item] of Object.entries(record(record(document)["paths"]))) {
    for (const [method, raw] of Object.entries(record(item))) {
      if (!/^(get|put|post|delete|patch)$/.test(method)) continue
      const operation = record(raw)
      const parameters = list(operation["parameters"]).map((entry): Parameter => {
        const parameter = record(entry)
        const location = String(parameter["in"])
        return {
          name: String(parameter["name"]),
          in: location === "path" || location === "header" || location === "cookie" ? location : "query",
          required: parameter["required"] === true,
          schema: parameter["schema"]
        }
      })
      const requestBody = record(operation["requestBody"])
      const body = record(record(requestBody["content"])["application/json"])["schema"]
      operations.push({
        method: method.toUpperCase(),
        template,
        key: `${method.toUpperCase()} ${template}`,
        parameters,
        body,
        bodyRequired: requestBody["required"] === true,
        operation
      })
    }
  }
  return operations
}

/** A schema with its `$ref` followed (and the first branch of a union, for the walkers below). */
export const resolve = (schema: Json, document: Json, depth = 0): Record<string, Json> => {
  const s = record(schema)
  if (depth > 16) return {}
  if (typeof s["$ref"] === "string") {
    const name = s["$ref"].split("/").at(-1) ?? ""
    return resolve(record(record(record(document)["components"])["schemas"])[name], document, depth + 1)
  }
  return s
}

const branches = (s: Record<string, Json>): ReadonlyArray<Json> => [
  ...list(s["anyOf"]),
  ...list(s["oneOf"]),
  ...list(s["allOf"])
]

/** A minimal valid value for a JSON schema (objects with their required properties). */
export const example = (schema: Json, document: Json, depth = 0): Json => {
  const s = resolve(schema, document)
  if (depth > 10) return null
  const options = branches(s)
  if (options.length > 0) return example(options[0], document, depth + 1)
  if (Array.isArray(s["enum"]) && s["enum"].length > 0) return s["enum"][0]
  if ("const" in s) return s["const"]
  switch (s["type"]) {
    case "object": {
      const properties = record(s["properties"])
      const required = list(s["required"]).map(String)
      return Object.fromEntries(required.map((key) => [key, example(properties[key], document, depth + 1)]))
    }
    case "array": {
      const minItems = typeof s["minItems"] === "number" ? s["minItems"] : 0
      return Array.from({ length: minItems }, () => example(s["items"], document, depth + 1))
    }
    case "integer":
    case "number":
      return typeof s["minimum"] === "number" ? s["minimum"] : 1
    case "boolean":
      return false
    case "null":
      return null
    default:
      if (s["format"] === "uuid") return crypto.randomUUID()
      if (s["format"] === "date-time") return "2025-01-01T00:00:00Z"
      if (typeof s["minLength"] === "number" && s["minLength"] > 8) return "x".repeat(s["minLength"])
      return "fuzz-probe"
  }
}

export type JsonPath = ReadonlyArray<string | number>

/** Every place in a body (properties, optional ones too, and the first item of arrays) that holds a string. */
export const stringPaths = (schema: Json, document: Json, path: JsonPath = [], depth = 0): ReadonlyArray<JsonPath> => {
  const s = resolve(schema, document)
  if (depth > 8) return []
  const options = branches(s)
  if (options.length > 0) {
    const seen = new Set<string>()
    return options
      .flatMap((option) => stringPaths(option, document, path, depth + 1))
      .filter((found) => !seen.has(found.join(".")) && seen.add(found.join(".")) !== undefined)
  }
  switch (s["type"]) {
    case "object":
      return Object.entries(record(s["properties"])).flatMap(([key, value]) =>
        stringPaths(value, document, [...path, key], depth + 1)
      )
    case "array":
      return stringPaths(s["items"], document, [...path, 0], depth + 1)
    case "string":
      return [path]
    default:
      return []
  }
}

/** A copy of `value` with `leaf` at `path`, creating objects and arrays on the way. */
export const setAt = (value: Json, path: JsonPath, leaf: Json): Json => {
  const [head, ...rest] = path
  if (head === undefined) return leaf
  if (typeof head === "number") {
    const array = Array.isArray(value) ? [...value] : []
    array[head] = setAt(array[head], rest, leaf)
    return array
  }
  const object = { ...record(value) }
  object[head] = setAt(object[head], rest, leaf)
  return object
}

/** The URL of an operation with its path parameters filled in (each already URL-encoded). */
export const urlOf = (operation: Operation, params: Readonly<Record<string, string>>, query = ""): string =>
  operation.template.replace(/\{([^}]+)\}/g, (_, name: string) => params[name] ?? "x") + (query ? `?${query}` : "")

/** Whether a parameter or property is a date/time by its schema or, failing that, its name. */
export const isDateField = (name: string, schema: Json, document: Json): boolean => {
  const s = resolve(schema, document)
  return (
    s["format"] === "date-time" ||
    s["format"] === "date" ||
    /^(date|since|until|before|after)|(From|To|Before|After|Since|Until)$/.test(name)
  )
}

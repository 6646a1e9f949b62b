/**
 * Function declarations in the JSON Schema subset Gemini documents for `parametersJsonSchema`:
 * `type`, `format`, `title`, `description`, `enum` (strings and numbers), `items`, `prefixItems`,
 * `minItems`, `maxItems`, `minimum`, `maximum`, `anyOf`, `oneOf`, `properties`,
 * `additionalProperties`, `required`, `propertyOrdering`, and `$defs`/`$ref` for cycles that run
 * through a non-required property (Gemini unrolls a cycle only there; a nullable property is not
 * enough). A `$ref` sub-schema carries no other keyword.
 *
 * Anything else is handled in one of three ways:
 * - constraints the arguments' decoder checks anyway (`minLength`, `pattern`, `exclusiveMinimum`,
 *   ...) are left out of the declaration and, when the node has no description, described in one
 *   (a violating call goes back to the model with the Schema's error);
 * - annotations (`$schema`, `$id`, `$comment`, `default`, `examples`, ...) are left out;
 * - keywords that change what a value may be and have no equivalent (`allOf`, `not`, `if`,
 *   `patternProperties`, ...) reject the schema, naming the keyword and where it is.
 */
import * as Cause from "effect/Cause"
import * as Either from "effect/Either"
import * as JSONSchema from "effect/JSONSchema"
import type * as Schema from "effect/Schema"

type Json = { [key: string]: unknown }

const isObject = (u: unknown): u is Json => typeof u === "object" && u !== null && !Array.isArray(u)

/** Constraints left to the decoder: dropped from the declaration, described when the node has no description. */
const decoderChecked = new Set([
  "minLength",
  "maxLength",
  "pattern",
  "exclusiveMinimum",
  "exclusiveMaximum",
  "multipleOf",
  "uniqueItems",
  "minProperties",
  "maxProperties",
  "propertyNames",
  "contains",
  "minContains",
  "maxContains",
  "contentEncoding",
  "contentMediaType",
  "contentSchema"
])

/** Annotations with no effect on what the model may send: dropped. */
const annotations = new Set([
  "$schema",
  "$id",
  "$anchor",
  "$comment",
  "$vocabulary",
  "default",
  "examples",
  "example",
  "readOnly",
  "writeOnly",
  "deprecated",
  "nullable"
])

/** Keywords that change what a value may be, with no equivalent in Gemini's subset. */
const unsupported = new Set([
  "allOf",
  "not",
  "if",
  "then",
  "else",
  "dependentSchemas",
  "dependentRequired",
  "dependencies",
  "unevaluatedProperties",
  "unevaluatedItems",
  "additionalItems",
  "$dynamicRef",
  "$dynamicAnchor",
  "$recursiveRef",
  "$recursiveAnchor"
])

/** String formats Gemini documents; other formats are left to the decoder. */
const formats = new Set(["date-time", "date", "time", "enum"])

/** Effect's `$id`s for schemas that JSON Schema has no keyword for. */
const anyObjectIds = new Set(["/schemas/%7B%7D", "/schemas/{}", "/schemas/object"])
const anyValueIds = new Set(["/schemas/unknown", "/schemas/any"])

/** `patternProperties` patterns that match any key. */
const anyKey = new Set(["", ".*", "^.*$", "[\\s\\S]*"])

const maxDepth = 64

class Rejected {
  constructor(readonly message: string) {}
}

const reject = (message: string): never => {
  throw new Rejected(message)
}

const show = (value: unknown): string => JSON.stringify(value) ?? String(value)

const pathOf = (path: ReadonlyArray<string>): string => path.length === 0 ? "the root" : path.join(".")

const refName = (ref: string): string | undefined => {
  for (const prefix of ["#/$defs/", "#/definitions/"]) {
    if (ref.startsWith(prefix)) return decodeURIComponent(ref.slice(prefix.length))
  }
  return undefined
}

/**
 * A JSON Schema as the parameters of a function declaration Gemini accepts, or the reason it
 * cannot be one (naming the keyword and where it is).
 *
 * @internal
 */
export const declarationParameters = (schema: unknown): Either.Either<Json, string> => {
  try {
    return Either.right(normalize(schema))
  } catch (error) {
    if (error instanceof Rejected) return Either.left(error.message)
    throw error
  }
}

/**
 * The parameters of a tool's declaration, derived once from its Schema. Throws an
 * `IllegalArgumentException` naming the tool and the keyword when Gemini cannot take it.
 *
 * @internal
 */
export const parametersJsonSchema = (schema: Schema.Schema.AnyNoContext, tool: string): Json => {
  const definitions: Record<string, JSONSchema.JsonSchema7> = {}
  const root = JSONSchema.fromAST(schema.ast, {
    definitions,
    target: "jsonSchema2020-12",
    topLevelReferenceStrategy: "skip"
  }) as unknown as Json
  const result = declarationParameters(Object.keys(definitions).length === 0 ? root : { ...root, $defs: definitions })
  if (Either.isRight(result)) return result.right
  throw new Cause.IllegalArgumentException(`Invalid tool "${tool}": its parameters schema ${result.left}`)
}

const normalize = (input: unknown): Json => {
  if (!isObject(input)) return reject(`must be a JSON Schema object, got ${show(input)}`)
  const defs: Record<string, unknown> = {
    ...(isObject(input["definitions"]) ? input["definitions"] : {}),
    ...(isObject(input["$defs"]) ? input["$defs"] : {})
  }
  const cyclic = cyclicDefinitions(defs)
  /** Edges between cyclic definitions that run through no optional property, array or record. */
  const unguarded = new Map<string, Array<{ readonly to: string; readonly path: string }>>()

  interface Walk {
    readonly path: ReadonlyArray<string>
    /** The cyclic definition being normalized, if any. */
    readonly within: string | undefined
    /** Whether the way from `within` to here passes an optional property, an array or a record. */
    readonly guarded: boolean
    /** Definitions being inlined on the way here. */
    readonly inlining: ReadonlyArray<string>
  }

  const walk = (node: unknown, at: Walk): Json => {
    if (at.path.length > maxDepth) reject(`is nested deeper than ${maxDepth} levels at ${pathOf(at.path)}`)
    if (node === true) return {}
    if (!isObject(node)) return reject(`has ${show(node)} at ${pathOf(at.path)} where a schema object is expected`)
    const ref = node["$ref"]
    if (typeof ref === "string") return reference(ref, node, at)
    const id = node["$id"]
    if (typeof id === "string" && anyObjectIds.has(id)) return described({ type: "object", properties: {} }, node)
    if (typeof id === "string" && anyValueIds.has(id)) return described({}, node)

    const out: Json = {}
    const notes: Array<string> = []
    for (const key of Object.keys(node)) {
      const value = node[key]
      const path = [...at.path, key]
      switch (key) {
        case "type": {
          if (Array.isArray(value)) {
            if (value.length === 1) out["type"] = value[0]
            else out["anyOf"] = value.map((type) => ({ type }))
          } else out["type"] = value
          break
        }
        case "properties": {
          if (!isObject(value)) return reject(`has "properties" that is not an object at ${pathOf(path)}`)
          const required = Array.isArray(node["required"]) ? node["required"] : []
          const properties: Json = {}
          for (const name of Object.keys(value)) {
            properties[name] = walk(value[name], {
              ...at,
              path: [...path, name],
              guarded: at.guarded || !required.includes(name)
            })
          }
          out["properties"] = properties
          break
        }
        case "additionalProperties": {
          if (value === false || value === true) out[key] = value
          else out[key] = walk(value, { ...at, path, guarded: true })
          break
        }
        case "patternProperties": {
          // Effect writes a record with a refined key as `patternProperties: { "": value }` (any
          // key) plus `propertyNames`: that is `additionalProperties` with a decoder-checked key
          const patterns = isObject(value) ? Object.keys(value) : []
          if (patterns.length === 1 && anyKey.has(patterns[0]!) && node["additionalProperties"] === undefined) {
            out["additionalProperties"] = walk((value as Json)[patterns[0]!], { ...at, path, guarded: true })
            break
          }
          return reject(
            `uses "patternProperties" at ${pathOf(path)}, which Gemini does not accept in function declarations. Use Schema.Record with a plain string key, or Schema.Struct.`
          )
        }
        case "items": {
          if (value === false) break // a closed tuple: the decoder refuses extra items
          if (Array.isArray(value)) {
            // draft-07 tuples: `items: [...]` is `prefixItems` in the subset
            out["prefixItems"] = value.map((item, i) => walk(item, { ...at, path: [...path, String(i)] }))
            break
          }
          const minItems = node["minItems"]
          out["items"] = walk(value, { ...at, path, guarded: at.guarded || !(typeof minItems === "number" && minItems > 0) })
          break
        }
        case "prefixItems": {
          if (!Array.isArray(value)) return reject(`has "prefixItems" that is not an array at ${pathOf(path)}`)
          out[key] = value.map((item, i) => walk(item, { ...at, path: [...path, String(i)] }))
          break
        }
        case "anyOf":
        case "oneOf": {
          if (!Array.isArray(value)) return reject(`has "${key}" that is not an array at ${pathOf(path)}`)
          // Gemini reads `oneOf` as `anyOf`
          out["anyOf"] = value.map((item, i) => walk(item, { ...at, path: [...path, String(i)] }))
          break
        }
        case "enum": {
          if (!Array.isArray(value)) return reject(`has "enum" that is not an array at ${pathOf(path)}`)
          if (value.every((v) => typeof v === "string" || typeof v === "number")) out[key] = value
          else notes.push(`one of ${value.map(show).join(", ")}`) // Gemini takes enums of strings and numbers only
          break
        }
        case "const": {
          if (typeof value === "string" || typeof value === "number") out["enum"] = [value]
          else if (value === null) out["type"] = "null"
          else notes.push(`exactly ${show(value)}`)
          break
        }
        case "format": {
          if (typeof value === "string" && formats.has(value)) out[key] = value
          else notes.push(`format: ${show(value)}`)
          break
        }
        case "$defs":
        case "definitions":
          break // cyclic definitions are collected at the root; the others are inlined
        case "required":
        case "title":
        case "description":
        case "minimum":
        case "maximum":
        case "minItems":
        case "maxItems":
        case "propertyOrdering":
          out[key] = value
          break
        default: {
          if (decoderChecked.has(key)) notes.push(note(key, value))
          else if (unsupported.has(key)) {
            return reject(
              `uses "${key}" at ${pathOf(path)}, which Gemini does not accept in function declarations. Express it with Schema.Union, Schema.Struct or Schema.optional, or give that schema a jsonSchema annotation inside Gemini's subset.`
            )
          } else if (!annotations.has(key) && !key.startsWith("x-")) {
            return reject(
              `uses the unknown keyword "${key}" at ${pathOf(path)}; Gemini accepts type, format, title, description, enum, items, prefixItems, minItems, maxItems, minimum, maximum, anyOf, oneOf, properties, additionalProperties, required, $defs and $ref.`
            )
          }
        }
      }
    }
    if (notes.length > 0 && out["description"] === undefined) out["description"] = notes.join("; ")
    return out
  }

  const reference = (ref: string, node: Json, at: Walk): Json => {
    const name = refName(ref)
    if (name === undefined || !(name in defs)) {
      return reject(`has a $ref Gemini cannot resolve at ${pathOf(at.path)}: ${show(ref)} (only "#/$defs/..." references are supported)`)
    }
    const siblings: Json = {}
    for (const key of Object.keys(node)) if (key !== "$ref") siblings[key] = node[key]
    if (!cyclic.has(name)) {
      if (at.inlining.includes(name)) return reject(`has a cyclic $ref at ${pathOf(at.path)}`)
      const inlined = walk(defs[name], { ...at, inlining: [...at.inlining, name] })
      return Object.keys(siblings).length === 0 ? inlined : { ...inlined, ...walk(siblings, at) }
    }
    if (at.within !== undefined && !at.guarded) {
      const edges = unguarded.get(at.within) ?? []
      edges.push({ to: name, path: pathOf(at.path) })
      unguarded.set(at.within, edges)
    }
    const target = { $ref: `#/$defs/${encodeURIComponent(name)}` }
    // a `$ref` sub-schema may carry no other keyword: the rest goes on a wrapper
    return Object.keys(siblings).length === 0 ? target : { ...walk(siblings, at), anyOf: [target] }
  }

  const fresh: Walk = { path: [], within: undefined, guarded: false, inlining: [] }
  const root = walk(input, fresh)
  const $defs: Json = {}
  for (const name of cyclic) {
    $defs[name] = walk(defs[name], { path: ["$defs", name], within: name, guarded: false, inlining: [] })
  }
  rejectUnguardedCycles(unguarded)

  if (root["type"] === undefined && isObject(root["properties"])) root["type"] = "object"
  if (root["type"] !== "object") {
    return reject(
      root["anyOf"] !== undefined
        ? `is a union (anyOf) at the root; Gemini requires one object of named parameters: wrap the union in a field, e.g. Schema.Struct({ input: ... }).`
        : `describes ${
          root["type"] === undefined ? "any value" : show(root["type"])
        } at the root; Gemini requires one object of named parameters (Schema.Struct).`
    )
  }
  if (root["properties"] === undefined && root["additionalProperties"] === undefined) root["properties"] = {}
  return cyclic.size === 0 ? root : { ...root, $defs }
}

/** Definitions that reach themselves through `$ref`s. */
const cyclicDefinitions = (defs: Record<string, unknown>): ReadonlySet<string> => {
  const refs = new Map<string, ReadonlyArray<string>>()
  const collect = (node: unknown, into: Array<string>): void => {
    if (Array.isArray(node)) for (const item of node) collect(item, into)
    else if (isObject(node)) {
      for (const key of Object.keys(node)) {
        const value = node[key]
        if (key === "$ref" && typeof value === "string") {
          const name = refName(value)
          if (name !== undefined) into.push(name)
        } else if (key !== "$defs" && key !== "definitions") collect(value, into)
      }
    }
  }
  for (const name of Object.keys(defs)) {
    const into: Array<string> = []
    collect(defs[name], into)
    refs.set(name, into)
  }
  const cyclic = new Set<string>()
  for (const start of refs.keys()) {
    const seen = new Set<string>()
    const stack = [...(refs.get(start) ?? [])]
    while (stack.length > 0) {
      const name = stack.pop()!
      if (name === start) {
        cyclic.add(start)
        break
      }
      if (seen.has(name)) continue
      seen.add(name)
      stack.push(...(refs.get(name) ?? []))
    }
  }
  return cyclic
}

/** A cycle made of required properties only describes an infinite value; Gemini refuses it. */
const rejectUnguardedCycles = (edges: ReadonlyMap<string, ReadonlyArray<{ readonly to: string; readonly path: string }>>): void => {
  const done = new Set<string>()
  const visit = (name: string, onPath: Array<string>): void => {
    if (done.has(name)) return
    const at = onPath.indexOf(name)
    if (at >= 0) {
      const edge = edges.get(onPath[onPath.length - 1]!)?.find((e) => e.to === name)
      reject(
        `refers to "${name}" recursively through required properties only (at ${edge?.path ?? name}); Gemini unrolls a recursive schema only through a non-required property (a nullable one is not enough): make that field Schema.optional, or hold the recursion in an array.`
      )
    }
    onPath.push(name)
    for (const edge of edges.get(name) ?? []) visit(edge.to, onPath)
    onPath.pop()
    done.add(name)
  }
  for (const name of edges.keys()) visit(name, [])
}

/** A dropped constraint, for the description: `minLength: 2`, `keys: a string at least 2 character(s) long`. */
const note = (key: string, value: unknown): string => {
  if (key !== "propertyNames" || !isObject(value)) return `${key}: ${typeof value === "object" ? show(value) : String(value)}`
  const described = value["description"] ?? value["pattern"]
  return `keys: ${typeof described === "string" ? described : show(value)}`
}

const described = (base: Json, node: Json): Json => {
  const out = { ...base }
  if (typeof node["title"] === "string") out["title"] = node["title"]
  if (typeof node["description"] === "string") out["description"] = node["description"]
  return out
}

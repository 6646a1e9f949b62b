import * as JSONSchema from "effect/JSONSchema"
import type * as Schema from "effect/Schema"

type Json = { [key: string]: unknown }

const defsPrefix = "#/$defs/"

/**
 * Plain JSON Schema for a tool's parameters: no `$schema` key, references inlined. A recursive
 * schema cannot be inlined; it keeps its `$defs`.
 *
 * @internal
 */
export const parametersJsonSchema = (schema: Schema.Schema.AnyNoContext): Json => {
  const definitions: Record<string, JSONSchema.JsonSchema7> = {}
  const root = JSONSchema.fromAST(schema.ast, {
    definitions,
    target: "jsonSchema2019-09",
    topLevelReferenceStrategy: "skip"
  }) as unknown as Json
  if (Object.keys(definitions).length === 0) return root
  let recursive = false
  const inline = (node: unknown, stack: ReadonlyArray<string>): unknown => {
    if (Array.isArray(node)) return node.map((item) => inline(item, stack))
    if (typeof node !== "object" || node === null) return node
    const obj = node as Json
    const ref = obj["$ref"]
    if (typeof ref === "string" && ref.startsWith(defsPrefix)) {
      const name = decodeURIComponent(ref.slice(defsPrefix.length))
      if (stack.includes(name)) {
        recursive = true
        return obj
      }
      const { $ref: _, ...rest } = obj
      return { ...(inline(definitions[name], [...stack, name]) as Json), ...rest }
    }
    const out: Json = {}
    for (const key of Object.keys(obj)) out[key] = inline(obj[key], stack)
    return out
  }
  const inlined = inline(root, []) as Json
  return recursive ? { ...inlined, $defs: definitions } : inlined
}

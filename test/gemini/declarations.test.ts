/**
 * Tool declarations Gemini accepts (issue 12, point 1): one test per schema shape, each asserting
 * the exact `parametersJsonSchema` and that the emulator, which refuses what Gemini refuses (an
 * object schema at the root, keywords inside the documented subset, `$ref` alone in its
 * sub-schema), takes it through the real SDK. Schemas Gemini cannot take are refused by
 * `Tool.make`, naming the keyword.
 */
import { Agent, Tool } from "@effect-agents/core"
import { GeminiEmulator } from "@effect-agents/gemini"
import { LeakCheck } from "@effect-agents/testing"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Either, Schema } from "effect"
import { withEmulator } from "./fixtures.js"

/** A tool with these parameters; its handler is never called. */
const toolOf = (parameters: Schema.Schema.AnyNoContext) =>
  Tool.make("probe", { description: "A probe", parameters, handler: () => Effect.succeed("ok") })

/** The declaration of a tool with `parameters`, after the emulator accepted it through the SDK. */
const declared = (parameters: Schema.Schema.AnyNoContext) => {
  const tool = toolOf(parameters)
  const agent = Agent.make({ name: "probe", instructions: "Probe.", tools: [tool] })
  return withEmulator([GeminiEmulator.text("accepted")], (emulator) =>
    Effect.gen(function*() {
      const result = yield* LeakCheck.check(Agent.run(agent, "Go"))
      assert.strictEqual(result.text, "accepted")
      const [request] = yield* emulator.requests
      const sent = request.body.tools?.[0]?.functionDeclarations?.[0]?.parametersJsonSchema as Record<string, unknown> | undefined
      assert.deepStrictEqual(sent, tool.declaration.parameters)
      return sent
    }))
}

interface Tree {
  readonly value: number
  readonly children: ReadonlyArray<Tree>
}
const Tree: Schema.Schema<Tree> = Schema.Struct({
  value: Schema.Number,
  children: Schema.Array(Schema.suspend((): Schema.Schema<Tree> => Tree))
}).annotations({ identifier: "Tree" })

interface Chain {
  readonly value: number
  readonly next?: Chain
}
const Chain: Schema.Schema<Chain> = Schema.Struct({
  value: Schema.Number,
  next: Schema.optional(Schema.suspend((): Schema.Schema<Chain> => Chain))
}).annotations({ identifier: "Chain" })

interface Loop {
  readonly value: number
  readonly next: Loop | null
}
const Loop: Schema.Schema<Loop> = Schema.Struct({
  value: Schema.Number,
  next: Schema.NullOr(Schema.suspend((): Schema.Schema<Loop> => Loop))
}).annotations({ identifier: "Loop" })

const treeDefinition = {
  type: "object",
  required: ["value", "children"],
  properties: { value: { type: "number" }, children: { type: "array", items: { $ref: "#/$defs/Tree" } } },
  additionalProperties: false
}

describe("Tool declarations Gemini accepts", () => {
  it.live("no arguments: an object with no properties", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* declared(Schema.Struct({})), { type: "object", properties: {} })
    }))

  it.live("optional fields are left out of required", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(
        yield* declared(Schema.Struct({ a: Schema.String, b: Schema.optional(Schema.Number), c: Schema.NullOr(Schema.Boolean) })),
        {
          type: "object",
          required: ["a", "c"],
          properties: { a: { type: "string" }, b: { type: "number" }, c: { anyOf: [{ type: "boolean" }, { type: "null" }] } },
          additionalProperties: false
        }
      )
    }))

  it.live("unions are anyOf, tagged unions included", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(
        yield* declared(Schema.Struct({
          u: Schema.Union(Schema.String, Schema.Number),
          shape: Schema.Union(Schema.TaggedStruct("Circle", { r: Schema.Number }), Schema.TaggedStruct("Square", { side: Schema.Number }))
        })),
        {
          type: "object",
          required: ["u", "shape"],
          properties: {
            u: { anyOf: [{ type: "string" }, { type: "number" }] },
            shape: {
              anyOf: [
                {
                  type: "object",
                  required: ["_tag", "r"],
                  properties: { _tag: { type: "string", enum: ["Circle"] }, r: { type: "number" } },
                  additionalProperties: false
                },
                {
                  type: "object",
                  required: ["_tag", "side"],
                  properties: { _tag: { type: "string", enum: ["Square"] }, side: { type: "number" } },
                  additionalProperties: false
                }
              ]
            }
          },
          additionalProperties: false
        }
      )
    }))

  it.live("literals are enums of strings and numbers; a boolean literal is described instead", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(
        yield* declared(Schema.Struct({ unit: Schema.Literal("cm", "in"), level: Schema.Literal(1, 2), strict: Schema.Literal(true) })),
        {
          type: "object",
          required: ["unit", "level", "strict"],
          properties: {
            unit: { type: "string", enum: ["cm", "in"] },
            level: { type: "number", enum: [1, 2] },
            strict: { type: "boolean", description: "one of true" }
          },
          additionalProperties: false
        }
      )
    }))

  it.live("arrays, non-empty arrays and tuples (prefixItems)", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(
        yield* declared(Schema.Struct({
          xs: Schema.Array(Schema.Number),
          tags: Schema.NonEmptyArray(Schema.String),
          point: Schema.Tuple(Schema.Number, Schema.Number)
        })),
        {
          type: "object",
          required: ["xs", "tags", "point"],
          properties: {
            xs: { type: "array", items: { type: "number" } },
            tags: { type: "array", minItems: 1, items: { type: "string" } },
            point: { type: "array", minItems: 2, prefixItems: [{ type: "number" }, { type: "number" }] }
          },
          additionalProperties: false
        }
      )
    }))

  it.live("records are additionalProperties, a refined key is described", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(
        yield* declared(Schema.Struct({
          prices: Schema.Record({ key: Schema.String, value: Schema.Number }),
          codes: Schema.Record({ key: Schema.String.pipe(Schema.minLength(2)), value: Schema.Number })
        })),
        {
          type: "object",
          required: ["prices", "codes"],
          properties: {
            prices: { type: "object", required: [], properties: {}, additionalProperties: { type: "number" } },
            codes: {
              type: "object",
              required: [],
              properties: {},
              additionalProperties: { type: "number" },
              description: "keys: a string at least 2 character(s) long"
            }
          },
          additionalProperties: false
        }
      )
    }))

  it.live("nested structs, identified or not, are inlined", () =>
    Effect.gen(function*() {
      const Address = Schema.Struct({ city: Schema.String }).annotations({ identifier: "Address" })
      assert.deepStrictEqual(
        yield* declared(Schema.Struct({ from: Address, to: Address, meta: Schema.Struct({ note: Schema.String }) })),
        {
          type: "object",
          required: ["from", "to", "meta"],
          properties: {
            from: { type: "object", required: ["city"], properties: { city: { type: "string" } }, additionalProperties: false },
            to: { type: "object", required: ["city"], properties: { city: { type: "string" } }, additionalProperties: false },
            meta: { type: "object", required: ["note"], properties: { note: { type: "string" } }, additionalProperties: false }
          },
          additionalProperties: false
        }
      )
    }))

  it.live("recursion through an array keeps $defs and $ref", () =>
    Effect.gen(function*() {
      const sent = yield* declared(Schema.Struct({ tree: Tree }))
      assert.deepStrictEqual(sent?.["$defs"], { Tree: treeDefinition })
      assert.deepStrictEqual(sent?.["required"], ["tree"])
    }))

  it.live("recursion through an optional field keeps $defs and $ref", () =>
    Effect.gen(function*() {
      const sent = yield* declared(Schema.Struct({ chain: Chain }))
      assert.deepStrictEqual(sent?.["$defs"], {
        Chain: {
          type: "object",
          required: ["value"],
          properties: { value: { type: "number" }, next: { $ref: "#/$defs/Chain" } },
          additionalProperties: false
        }
      })
    }))

  it.live("refinements Gemini has no keyword for (minLength, pattern, exclusiveMinimum) are left to the decoder and described", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(
        yield* declared(Schema.Struct({
          name: Schema.String.pipe(Schema.minLength(1)),
          code: Schema.String.pipe(Schema.pattern(/^[A-Z]{3}$/)),
          count: Schema.Int.pipe(Schema.positive()),
          percent: Schema.Number.pipe(Schema.between(0, 100)),
          id: Schema.UUID
        })),
        {
          type: "object",
          required: ["name", "code", "count", "percent", "id"],
          properties: {
            name: { type: "string", description: "a string at least 1 character(s) long", title: "minLength(1)" },
            code: { type: "string", description: "a string matching the pattern ^[A-Z]{3}$" },
            count: { type: "integer", description: "a positive number", title: "positive" },
            percent: { type: "number", description: "a number between 0 and 100", title: "between(0, 100)", minimum: 0, maximum: 100 },
            id: { type: "string", description: "a Universally Unique Identifier" }
          },
          additionalProperties: false
        }
      )
    }))
})

describe("Tool declarations Gemini cannot take are refused by Tool.make", () => {
  const refusal = (parameters: Schema.Schema.AnyNoContext): string => {
    try {
      toolOf(parameters)
    } catch (error) {
      return String(error)
    }
    return "accepted"
  }

  it("a union at the root: Gemini wants one object of named parameters", () => {
    assert.include(
      refusal(Schema.Union(Schema.Struct({ a: Schema.String }), Schema.Struct({ b: Schema.String }))),
      `Invalid tool "probe": its parameters schema is a union (anyOf) at the root; Gemini requires one object of named parameters: wrap the union in a field`
    )
  })

  it("a value that is not an object at the root", () => {
    assert.include(refusal(Schema.String), `describes "string" at the root; Gemini requires one object of named parameters (Schema.Struct)`)
  })

  it("recursion through required fields only, a nullable one included", () => {
    assert.include(refusal(Schema.Struct({ loop: Loop })), `refers to "Loop" recursively through required properties only`)
    assert.include(refusal(Schema.Struct({ loop: Loop })), "make that field Schema.optional")
  })

  it("a keyword with no equivalent, named with where it is", () => {
    const positive = Schema.Struct({ n: Schema.Number }).annotations({
      jsonSchema: { type: "object", properties: { n: { type: "number" } }, allOf: [{ required: ["n"] }] }
    })
    assert.include(refusal(positive), `uses "allOf" at allOf, which Gemini does not accept in function declarations`)
  })

  it("the same check serves JSON Schemas from elsewhere (an MCP server's inputSchema)", () => {
    assert.deepStrictEqual(
      Tool.checkParametersJsonSchema({
        $schema: "http://json-schema.org/draft-07/schema#",
        type: "object",
        properties: { q: { type: "string", minLength: 1, default: "x" }, tags: { type: ["string", "null"] } },
        required: ["q"]
      }),
      Either.right({
        type: "object",
        properties: { q: { type: "string", description: "minLength: 1" }, tags: { anyOf: [{ type: "string" }, { type: "null" }] } },
        required: ["q"]
      })
    )
    assert.deepStrictEqual(
      Tool.checkParametersJsonSchema({ type: "object", properties: { x: { not: { type: "string" } } } }),
      Either.left(
        `uses "not" at properties.x.not, which Gemini does not accept in function declarations. Express it with Schema.Union, Schema.Struct or Schema.optional, or give that schema a jsonSchema annotation inside Gemini's subset.`
      )
    )
  })
})

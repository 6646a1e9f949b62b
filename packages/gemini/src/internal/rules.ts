/**
 * What the Gemini API refuses with 400 `INVALID_ARGUMENT`, as the emulator checks it. Written from
 * the API reference and the errors Gemini returns, independently of how the library builds
 * requests, so the emulator catches what the library gets wrong. Each rule returns the message
 * Gemini sends, or `undefined` when the request passes.
 *
 * Bodies are nested at most `maxNesting` levels (checked on the raw text before parsing), so the
 * recursive walks below are bounded.
 */

type Json = Record<string, unknown>

const isObject = (u: unknown): u is Json => typeof u === "object" && u !== null && !Array.isArray(u)

/** Nesting Gemini's JSON parser accepts; deeper bodies are refused before parsing. */
export const maxNesting = 100

/** How deeply a JSON text nests (objects and arrays), stopping as soon as it passes `limit`. */
export const nestingOf = (text: string, limit: number): number => {
  let depth = 0
  let max = 0
  let inString = false
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (inString) {
      if (c === 92) i++ // backslash: skip the escaped character
      else if (c === 34) inString = false
    } else if (c === 34) inString = true
    else if (c === 123 || c === 91) {
      depth++
      if (depth > max) {
        max = depth
        if (max > limit) return max
      }
    } else if (c === 125 || c === 93) depth--
  }
  return max
}

/** The part fields of the `data` oneof: a part sets exactly one. */
const dataFields = [
  "text",
  "inlineData",
  "fileData",
  "functionCall",
  "functionResponse",
  "executableCode",
  "codeExecutionResult",
  "toolCall",
  "toolResponse"
]

const describe = (value: unknown): string => value === null ? "null" : Array.isArray(value) ? "an array" : typeof value

/** `contents`: objects with a valid role and non-empty parts, each part setting exactly one data field. */
export const contentsRule = (body: Json): string | undefined => {
  const contents = body["contents"]
  if (contents === undefined) return "* GenerateContentRequest.contents: contents is not specified"
  if (!Array.isArray(contents)) return `Invalid JSON payload received. contents must be a list, got ${describe(contents)}.`
  if (contents.length === 0) return "* GenerateContentRequest.contents: contents is not specified"
  for (let i = 0; i < contents.length; i++) {
    const content: unknown = contents[i]
    if (!isObject(content)) {
      return `Invalid value at 'contents[${i}]' (type.googleapis.com/google.ai.generativelanguage.v1beta.Content), ${describe(content)}`
    }
    const role = content["role"]
    if (role !== undefined && role !== "user" && role !== "model") return "Please use a valid role: user, model."
    const parts = content["parts"]
    if (!Array.isArray(parts) || parts.length === 0) {
      return `* GenerateContentRequest.contents[${i}].parts: contents.parts must not be empty.`
    }
    for (let j = 0; j < parts.length; j++) {
      const part: unknown = parts[j]
      if (!isObject(part)) {
        return `Invalid value at 'contents[${i}].parts[${j}]' (type.googleapis.com/google.ai.generativelanguage.v1beta.Part), ${
          describe(part)
        }`
      }
      const set = dataFields.filter((field) => part[field] !== undefined)
      if (set.length === 0) {
        return `* GenerateContentRequest.contents[${i}].parts[${j}].data: required oneof field 'data' must have one initialized field`
      }
      if (set.length > 1) {
        return `Invalid value at 'contents[${i}].parts[${j}]' (oneof), oneof field 'data' is already set. Cannot set '${set[1]}'`
      }
    }
  }
  return undefined
}

const countOf = (parts: ReadonlyArray<unknown>, field: string): number =>
  parts.filter((part) => isObject(part) && part[field] !== undefined).length

/** Each function-call turn is followed by a user turn answering every call, and only there. */
export const functionResponsesRule = (contents: ReadonlyArray<Json>): string | undefined => {
  for (let i = 0; i < contents.length; i++) {
    const parts = contents[i]!["parts"] as ReadonlyArray<unknown>
    const responses = countOf(parts, "functionResponse")
    if (responses > 0) {
      const previous = contents[i - 1]
      const calls = previous?.["role"] === "model" ? countOf(previous["parts"] as ReadonlyArray<unknown>, "functionCall") : 0
      if (calls === 0) return "Please ensure that function response turn comes immediately after a function call turn."
      if (calls !== responses) {
        return "Please ensure that the number of function response parts is equal to the number of function call parts of the function call turn."
      }
    }
    const calls = contents[i]!["role"] === "model" ? countOf(parts, "functionCall") : 0
    const next = contents[i + 1]
    if (calls > 0 && next !== undefined && countOf(next["parts"] as ReadonlyArray<unknown>, "functionResponse") === 0) {
      return "Please ensure that function call turn comes immediately after a user turn or after a function response turn."
    }
  }
  return undefined
}

const snake = (name: string): string => name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)

/** A field as Gemini's JSON parser takes it: by the proto's lowerCamel name or its snake_case one. */
const fieldOf = (object: Json, camel: string): unknown => object[camel] ?? object[snake(camel)]

const unknownName = (name: string, at: string): string =>
  `Invalid JSON payload received. Unknown name "${name}" at '${at}': Cannot find field.`

/** The fields a message takes, each by either name. */
const knownFields = (fields: ReadonlyArray<string>): ReadonlySet<string> => new Set(fields.flatMap((field) => [field, snake(field)]))

const responsePartFields = knownFields(["inlineData", "fileData", "mediaProcessing"])
const blobFields = knownFields(["mimeType", "data", "displayName"])
const fileDataFields = knownFields(["mimeType", "fileUri", "displayName"])

/** Base64 as proto JSON reads bytes: standard or URL-safe alphabet, padding optional. */
const base64 = /^[A-Za-z0-9+/_-]*={0,2}$/

/**
 * Media in function responses (`functionResponse.parts`, Gemini 3's multimodal function
 * responses): a list of `FunctionResponsePart`s, each setting exactly one of `inlineData` (a MIME
 * type and base64 bytes) and `fileData` (a MIME type and a URI), with no unknown fields.
 */
export const functionResponsePartsRule = (contents: ReadonlyArray<Json>): string | undefined => {
  for (let i = 0; i < contents.length; i++) {
    const parts = contents[i]!["parts"] as ReadonlyArray<unknown>
    for (let j = 0; j < parts.length; j++) {
      const part = parts[j]
      const response = isObject(part) ? fieldOf(part, "functionResponse") : undefined
      if (!isObject(response)) continue
      const list = response["parts"]
      if (list === undefined) continue
      const at = `contents[${i}].parts[${j}].function_response.parts`
      if (!Array.isArray(list)) {
        return `Invalid value at '${at}' (type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionResponsePart), ${describe(list)}`
      }
      for (let k = 0; k < list.length; k++) {
        const item: unknown = list[k]
        const here = `${at}[${k}]`
        if (!isObject(item)) {
          return `Invalid value at '${here}' (type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionResponsePart), ${describe(item)}`
        }
        const unknown = Object.keys(item).find((key) => !responsePartFields.has(key))
        if (unknown !== undefined) return unknownName(unknown, here)
        const inline = fieldOf(item, "inlineData")
        const file = fieldOf(item, "fileData")
        if (inline !== undefined && file !== undefined) {
          return `Invalid value at '${here}' (oneof), oneof field 'data' is already set. Cannot set 'fileData'`
        }
        if (inline === undefined && file === undefined) {
          return `* GenerateContentRequest.${here}.data: required oneof field 'data' must have one initialized field`
        }
        const [data, fields, name] = inline !== undefined ? [inline, blobFields, "inline_data"] : [file, fileDataFields, "file_data"]
        if (!isObject(data)) {
          return `Invalid value at '${here}.${name}' (type.googleapis.com/google.ai.generativelanguage.v1beta.FunctionResponse${
            inline !== undefined ? "Blob" : "FileData"
          }), ${describe(data)}`
        }
        const stray = Object.keys(data).find((key) => !fields.has(key))
        if (stray !== undefined) return unknownName(stray, `${here}.${name}`)
        const mimeType = fieldOf(data, "mimeType")
        if (typeof mimeType !== "string" || mimeType.length === 0) {
          return `* GenerateContentRequest.${here}.${name}.mime_type: a function response part requires a MIME type`
        }
        if (inline !== undefined) {
          const bytes = fieldOf(data, "data")
          if (typeof bytes !== "string" || bytes.length === 0) {
            return `* GenerateContentRequest.${here}.inline_data.data: a function response part requires data`
          }
          if (!base64.test(bytes) || bytes.replace(/=+$/, "").length % 4 === 1) {
            return `Invalid value at '${here}.inline_data.data' (TYPE_BYTES), Base64 decoding failed for "${bytes.slice(0, 40)}"`
          }
        } else {
          const uri = fieldOf(data, "fileUri")
          if (typeof uri !== "string" || uri.length === 0) {
            return `* GenerateContentRequest.${here}.file_data.file_uri: a function response part requires a file URI`
          }
        }
      }
    }
  }
  return undefined
}

/**
 * Gemini 3: in the current turn (everything after the last user message that is not only
 * function responses), the first function call of each model step carries its thought signature.
 */
export const thoughtSignatureRule = (contents: ReadonlyArray<Json>): string | undefined => {
  let start = 0
  for (let i = 0; i < contents.length; i++) {
    const content = contents[i]!
    const parts = content["parts"] as ReadonlyArray<unknown>
    if (content["role"] !== "model" && countOf(parts, "functionResponse") < parts.length) start = i + 1
  }
  for (let i = start; i < contents.length; i++) {
    const content = contents[i]!
    if (content["role"] !== "model") continue
    const parts = content["parts"] as ReadonlyArray<Json>
    const first = parts.findIndex((part) => part["functionCall"] !== undefined)
    if (first >= 0 && typeof parts[first]!["thoughtSignature"] !== "string") {
      const name = (parts[first]!["functionCall"] as Json | undefined)?.["name"]
      return `Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call \`default_api:${
        String(name)
      }\` , position ${first + 1}. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details.`
    }
  }
  return undefined
}

/** The JSON Schema keywords Gemini documents for `parametersJsonSchema` / `responseJsonSchema`. */
const schemaKeywords = new Set([
  "$id",
  "$defs",
  "$ref",
  "$anchor",
  "type",
  "format",
  "title",
  "description",
  "enum",
  "items",
  "prefixItems",
  "minItems",
  "maxItems",
  "minimum",
  "maximum",
  "anyOf",
  "oneOf",
  "properties",
  "additionalProperties",
  "required",
  "propertyOrdering"
])

/** A schema inside the documented subset, or the first thing outside it. */
const schemaRule = (schema: unknown, path: string): string | undefined => {
  if (schema === true || schema === false) return undefined
  if (!isObject(schema)) return `${path}: a schema must be an object, got ${describe(schema)}`
  if (schema["$ref"] !== undefined) {
    const other = Object.keys(schema).find((key) => !key.startsWith("$"))
    if (other !== undefined) return `${path}: a schema with $ref cannot set "${other}"`
  }
  for (const key of Object.keys(schema)) {
    if (!schemaKeywords.has(key)) return `${path}: unsupported JSON Schema keyword "${key}"`
  }
  const enumValues = schema["enum"]
  if (Array.isArray(enumValues) && enumValues.some((v) => typeof v !== "string" && typeof v !== "number")) {
    return `${path}.enum: only string and number enum values are supported`
  }
  const children: Array<readonly [unknown, string]> = []
  for (const key of ["properties", "$defs"]) {
    const map = schema[key]
    if (isObject(map)) for (const name of Object.keys(map)) children.push([map[name], `${path}.${key}.${name}`])
  }
  for (const key of ["anyOf", "oneOf", "prefixItems"]) {
    const list = schema[key]
    if (Array.isArray(list)) list.forEach((item, i) => children.push([item, `${path}.${key}[${i}]`]))
  }
  for (const key of ["items", "additionalProperties"]) {
    if (schema[key] !== undefined) children.push([schema[key], `${path}.${key}`])
  }
  for (const [child, at] of children) {
    const problem = schemaRule(child, at)
    if (problem !== undefined) return problem
  }
  return undefined
}

const functionName = /^[A-Za-z_][A-Za-z0-9_.:-]{0,127}$/

/** Function declarations: valid names, and parameters that are one object schema inside the subset. */
export const toolsRule = (body: Json, multiToolModel: boolean): string | undefined => {
  const tools = body["tools"]
  if (tools === undefined) return undefined
  if (!Array.isArray(tools)) return `Invalid JSON payload received. tools must be a list, got ${describe(tools)}.`
  let functions = false
  let builtIn = false
  for (let t = 0; t < tools.length; t++) {
    const tool: unknown = tools[t]
    if (!isObject(tool)) return `Invalid value at 'tools[${t}]', ${describe(tool)}`
    if (tool["googleSearch"] !== undefined || tool["codeExecution"] !== undefined || tool["urlContext"] !== undefined) {
      builtIn = true
    }
    const declarations = tool["functionDeclarations"]
    if (!Array.isArray(declarations)) continue
    functions ||= declarations.length > 0
    for (let d = 0; d < declarations.length; d++) {
      const at = `tools[${t}].function_declarations[${d}]`
      const declaration: unknown = declarations[d]
      if (!isObject(declaration)) return `Invalid value at '${at}', ${describe(declaration)}`
      const name = declaration["name"]
      if (typeof name !== "string" || !functionName.test(name)) {
        return `* GenerateContentRequest.${at}.name: Invalid function name. Must start with a letter or an underscore. Must be alphameric (a-z, A-Z, 0-9), underscores (_), dots (.), colons (:), or dashes (-), with a maximum length of 128.`
      }
      const parameters = declaration["parametersJsonSchema"]
      if (parameters !== undefined && declaration["parameters"] !== undefined) {
        return `* GenerateContentRequest.${at}: parameters and parameters_json_schema are mutually exclusive.`
      }
      if (parameters === undefined) continue
      if (!isObject(parameters) || parameters["type"] !== "object") {
        return `* GenerateContentRequest.${at}.parameters_json_schema: the schema must describe an object (type "object"), got ${
          isObject(parameters) ? JSON.stringify(parameters).slice(0, 200) : describe(parameters)
        }`
      }
      const problem = schemaRule(parameters, `${at}.parameters_json_schema`)
      if (problem !== undefined) return `* GenerateContentRequest.${problem}`
    }
  }
  if (functions && builtIn && !multiToolModel) return "Tool use with function calling is unsupported"
  return undefined
}

/** With `cachedContent`, the system instruction, tools and tool config come from the cache. */
export const cachedContentRule = (body: Json): string | undefined =>
  body["cachedContent"] !== undefined &&
    (body["systemInstruction"] !== undefined || body["tools"] !== undefined || body["toolConfig"] !== undefined)
    ? "CachedContent can not be used with GenerateContent request setting system_instruction, tools or tool_config.\n\nProposed fix: move those values to CachedContent from GenerateContent request."
    : undefined

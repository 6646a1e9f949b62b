/** `@effect-agents/<name>` → the absolute path of its `src/index.ts`, for every package of the workspace. */
export declare const sourceAliases: Record<string, string>

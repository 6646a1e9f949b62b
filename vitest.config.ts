import { defineConfig } from "vitest/config"
import { sourceAliases } from "./scripts/source-aliases.mjs"
import SummaryReporter from "./test/support/summary-reporter.js"

// Tests run the packages from source: each `@effect-agents/<name>` import is aliased to its `src/index.ts`
// (published packages export only `dist/`; see docs/architecture.md).

// Suites that run or wait on other processes (the typecheck, examples, the packed consumer, crash tests, MCP
// servers, workers, the browser): each file in a fork of its own, several at once, beside the in-process suites.
const processes = [
  "test/typecheck/**/*.test.ts",
  "test/examples/**/*.test.ts",
  "test/consumer/**/*.test.ts",
  "test/cluster/**/*.test.ts",
  "test/mcp/**/*.test.ts",
  "test/node/**/*.test.ts",
  "test/http/timeline-page.test.ts",
  "test/gemini/tracing-genai.test.ts"
]

export default defineConfig({
  resolve: { alias: sourceAliases },
  test: {
    testTimeout: 60_000,
    maxConcurrency: 2,
    hookTimeout: 60_000,
    // vitest's default on 2 cores is one worker, which runs the waiting suites one after another
    maxWorkers: 3,
    reporters: ["default", new SummaryReporter()],
    projects: [
      {
        extends: true,
        test: {
          name: "in-process",
          include: ["test/**/*.test.ts"],
          exclude: processes,
          // one module graph for every in-process suite: they share nothing but loaded modules (each test
          // builds its own layers, servers on port 0 and `TestClock`), and loading Effect once per file
          // cost ≈ 45 s of the run
          isolate: false,
          poolOptions: { forks: { isolate: false, singleFork: true } }
        }
      },
      {
        extends: true,
        test: { name: "processes", include: processes }
      }
    ]
  }
})

import { defineConfig } from "vitest/config"
import SummaryReporter from "./test/support/summary-reporter.js"

// Tests run the packages from source: the `@effect-agents/source` export condition points each package at
// `src/index.ts` (published builds resolve `types`/`import` in `dist/` instead; see docs/architecture.md).
const conditions = ["@effect-agents/source", "module", "node", "development|production"]

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ["@effect-agents/source"] } },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    maxConcurrency: 2,
    hookTimeout: 60_000,
    reporters: ["default", new SummaryReporter()]
  }
})

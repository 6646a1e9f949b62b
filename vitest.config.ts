import { defineConfig } from "vitest/config"
import SummaryReporter from "./test/support/summary-reporter.js"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 60_000,
    maxConcurrency: 2,
    hookTimeout: 60_000,
    reporters: ["default", new SummaryReporter()]
  }
})

/**
 * The live timeline page of `examples/server`, in a real browser: headless Chromium (Debian's
 * `chromium`, driven by `playwright-core`) opens the page served by the example's `HttpRouter`,
 * starts the trip scenario (its `hotels` call fails while `weather` and `flights` run, so the
 * group fails fast) and the sub-agent scenario, and the page draws their lanes, the red
 * interrupted bars with their reason, and the failed run. A screenshot goes to
 * `.tmp/timeline.png`.
 *
 * Without /usr/bin/chromium the test is skipped with a notice; under `CI=true` it fails instead.
 */
import { ConversationStore } from "@effect-agents/core"
import { GeminiEmulator } from "@effect-agents/gemini"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer } from "effect"
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { dirname, join } from "node:path"
import { fileURLToPath } from "node:url"
import { chromium } from "playwright-core"
import { makeApp, script } from "../../examples/server/app.js"
import { listen } from "./support.js"

const executablePath = "/usr/bin/chromium"
const screenshot = join(dirname(fileURLToPath(import.meta.url)), "..", "..", ".tmp", "timeline.png")
const flags = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync"
]

const hasChromium = existsSync(executablePath)
if (!hasChromium && process.env["CI"] !== "true") {
  console.warn(
    `\n${"!".repeat(100)}\n!! SKIPPED: the timeline page browser test needs Debian's chromium at ${executablePath}\n` +
      `!! (apt-get install -y chromium; .ci/run installs it). Under CI=true this is a failure.\n${"!".repeat(100)}\n`
  )
}

/** A fresh Chromium profile for the lifetime of the current scope. */
const browser = Effect.acquireRelease(
  Effect.promise(async () => {
    const profile = mkdtempSync(join(tmpdir(), "effect-agents-chromium-"))
    const context = await chromium.launchPersistentContext(profile, { executablePath, headless: true, args: flags })
    return { context, profile }
  }),
  ({ context, profile }) => Effect.promise(() => context.close().finally(() => rmSync(profile, { recursive: true, force: true })))
).pipe(Effect.map(({ context }) => context))

/** The example's app on a free port, opened in a fresh tab (1280 × 560) for the lifetime of the current scope. */
const openPage = Effect.gen(function*() {
  assert.isTrue(hasChromium, `CI=true and no browser at ${executablePath}: .ci/run must install Debian's chromium`)
  const context = yield* Layer.build(Layer.merge(GeminiEmulator.layerModel({ script }), ConversationStore.layerMemory))
  const baseUrl = yield* Effect.flatMap(makeApp(), listen).pipe(Effect.provide(context))
  const chromiumContext = yield* browser
  const tab = yield* Effect.promise(() => chromiumContext.newPage())
  yield* Effect.promise(() => tab.setViewportSize({ width: 1280, height: 560 }))
  yield* Effect.promise(() => tab.goto(baseUrl))
  return tab
})

describe.skipIf(!hasChromium && process.env["CI"] !== "true")("the live timeline page", () => {
  it.scopedLive("draws the lanes of each run, its failing parallel tool, and the interrupted siblings in red with their reason", () =>
    Effect.gen(function*() {
      const tab = yield* openPage
      yield* Effect.promise(() => tab.getByRole("button", { name: "Trip (a parallel tool fails)" }).click())
      yield* Effect.promise(() => tab.getByRole("button", { name: "Sub-agents" }).click())

      // the trip run: hotels failed, weather and flights were interrupted by it, the run failed
      const interrupted = tab.locator(`.bar[data-kind=tool][data-status=interrupted]`)
      yield* Effect.promise(() => interrupted.nth(1).waitFor({ timeout: 20_000 }))
      yield* Effect.promise(() => tab.locator(`.marker[data-outcome=completed]`).nth(2).waitFor({ timeout: 20_000 }))
      const bars = yield* Effect.promise(() =>
        tab.locator(".bar[data-kind=tool]").evaluateAll((elements) =>
          elements.map((element) => ({
            name: element.querySelector(".name")?.textContent,
            status: (element as HTMLElement).dataset["status"],
            reason: (element as HTMLElement).dataset["reason"],
            agent: (element as HTMLElement).dataset["agent"],
            color: getComputedStyle(element).backgroundColor
          }))
        )
      )
      const trip = bars.filter((bar) => bar.agent === "travel").sort((a, b) => String(a.name).localeCompare(String(b.name)))
      assert.deepStrictEqual(trip, [
        { name: "flights", status: "interrupted", reason: "interrupted: sibling-failed", agent: "travel", color: "rgb(220, 38, 38)" },
        {
          name: "hotels",
          status: "failed",
          reason: "failure: the hotel API answered 503 Service Unavailable",
          agent: "travel",
          color: "rgb(220, 38, 38)"
        },
        { name: "weather", status: "interrupted", reason: "interrupted: sibling-failed", agent: "travel", color: "rgb(220, 38, 38)" }
      ])
      const failed = yield* Effect.promise(() => tab.locator(".marker[data-outcome=failed]").allTextContents())
      assert.deepStrictEqual(failed, ["failed: Tool call failed: hotels (gemini-call-3): the hotel API answered 503 Service Unavailable"])

      // one lane per run and agent path: the sub-agents of the coordinator have lanes of their own
      const lanes = yield* Effect.promise(() => tab.locator(".lane .lane-label b").allTextContents())
      assert.deepStrictEqual([...lanes].sort(), ["coordinator", "coordinator / researcher", "coordinator / writer", "travel"])
      const search = bars.find((bar) => bar.name === "search")
      assert.deepStrictEqual(search && [search.agent, search.status], ["coordinator/researcher", "ok"])

      mkdirSync(dirname(screenshot), { recursive: true })
      yield* Effect.promise(() => tab.screenshot({ path: screenshot, fullPage: true }))
      assert.isTrue(existsSync(screenshot))
    }), 60_000)

  it.scopedLive("a call that needs approval waits with Approve / Deny buttons; clicking Approve runs it", () =>
    Effect.gen(function*() {
      const tab = yield* openPage
      yield* Effect.promise(() => tab.getByRole("button", { name: "Refund (needs approval)" }).click())
      const waiting = tab.locator(`.bar[data-kind=tool][data-status=waiting]`)
      yield* Effect.promise(() => waiting.waitFor({ timeout: 20_000 }))
      assert.deepStrictEqual(yield* Effect.promise(() => waiting.locator("button").allTextContents()), ["Approve", "Deny"])
      yield* Effect.promise(() => waiting.getByRole("button", { name: "Approve" }).click())
      yield* Effect.promise(() => tab.locator(`.marker[data-outcome=completed]`).waitFor({ timeout: 20_000 }))
      const refund = yield* Effect.promise(() =>
        tab.locator(".bar[data-kind=tool]").evaluateAll((elements) =>
          elements.map((element) => [element.querySelector(".name")?.textContent, (element as HTMLElement).dataset["status"]])
        )
      )
      assert.deepStrictEqual(refund, [["refund", "ok"]])
      assert.strictEqual(yield* Effect.promise(() => tab.locator(".bar button").count()), 0)
    }), 60_000)
})

import { Effect, TestContext } from "effect"
import { soak } from "./soak.js"
const t = Date.now()
const r = await Effect.runPromise(soak({ conversations: Number(process.argv[2]), seed: 42 }).pipe(Effect.provide(TestContext.TestContext)))
console.log(Date.now() - t, r.outcomes)

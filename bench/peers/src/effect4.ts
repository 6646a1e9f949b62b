/**
 * The bare Effect 4 floor: the same program as the bare Effect 3 floor (`bench/shapes/floor.ts`),
 * on Effect 4 (installed here under the alias `effect4`). For reference: what the same waits cost
 * on the next runtime.
 */
import { Effect } from "effect4"
import { type EffectModule, floor } from "../../shapes/floor.js"
import type { System } from "../../shapes/systems.js"

export const effect4Floor: System = {
  key: "effect4",
  name: "bare Effect 4 floor",
  // Effect 4 has the same functions under the same names; only their types differ from Effect 3's
  ...floor(Effect as unknown as EffectModule)
}

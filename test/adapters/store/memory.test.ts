import { layer } from "../../../src/adapters/store/memory.js"
import { conformance } from "./conformance.js"

conformance({ name: "memory", layer: () => layer(), pooled: false })

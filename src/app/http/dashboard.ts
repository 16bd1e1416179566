import * as HttpApiBuilder from "@effect/platform/HttpApiBuilder"
import * as HttpRouter from "@effect/platform/HttpRouter"
import * as HttpServerResponse from "@effect/platform/HttpServerResponse"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { fileURLToPath } from "node:url"

const contentTypes: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png"
}

/** The dashboard's folder: `dashboard/` at the package root, from the sources, the build (dist/src) or the bundle. */
export const dashboardDirectory = (): string => {
  const here = path.dirname(fileURLToPath(import.meta.url))
  const candidates = [1, 2, 3, 4].map((up) => path.resolve(here, "../".repeat(up), "dashboard"))
  return candidates.find((dir) => fs.existsSync(path.join(dir, "index.html"))) ?? candidates[2]!
}

/** Chart.js's self-contained build, served from node_modules: nothing is fetched from another host at run time. */
const chartScript = (): string => {
  const main = createRequire(import.meta.url).resolve("chart.js")
  return path.join(path.dirname(main), "chart.umd.min.js")
}

interface Asset {
  readonly body: Uint8Array
  readonly contentType: string
}

const headers = {
  "cache-control": "no-cache",
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "content-security-policy":
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; " +
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
}

/** Loads the dashboard's files once; the names are fixed, so a request can never reach another file. */
const loadAssets = (): Map<string, Asset> => {
  const dir = dashboardDirectory()
  const assets = new Map<string, Asset>()
  for (const name of fs.readdirSync(dir)) {
    const type = contentTypes[path.extname(name)]
    const file = path.join(dir, name)
    if (type === undefined || !fs.statSync(file).isFile()) continue
    assets.set(name, { body: fs.readFileSync(file), contentType: type })
  }
  assets.set("chart.umd.min.js", { body: fs.readFileSync(chartScript()), contentType: contentTypes[".js"]! })
  return assets
}

const respond = (asset: Asset) => HttpServerResponse.uint8Array(asset.body, { contentType: asset.contentType, headers })

/** Serves the dashboard: `/` is the page, `/assets/<file>` its scripts, styles and Chart.js. */
export const layer: Layer.Layer<never> = HttpApiBuilder.Router.use((router) =>
  Effect.gen(function* () {
    const assets = yield* Effect.sync(loadAssets)
    const index = assets.get("index.html")
    if (index === undefined) return yield* Effect.dieMessage(`the dashboard is missing from ${dashboardDirectory()}`)
    yield* router.get("/", Effect.succeed(respond(index)))
    yield* router.get(
      "/assets/:file",
      Effect.gen(function* () {
        const { file } = yield* HttpRouter.params
        const asset = file === undefined || file === "index.html" ? undefined : assets.get(file)
        return asset === undefined
          ? HttpServerResponse.unsafeJson({ status: 404, message: `no asset ${file}` }, { status: 404 })
          : respond(asset)
      })
    )
  })
)

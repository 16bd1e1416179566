// Bundles the command line (src/app/main.ts) with Effect into dist/bin/: Node's ESM loader resolves, reads and links
// about a thousand Effect modules one by one, which was a third of `rebound once`'s start-up. Other packages stay
// outside (native addons, CommonJS, files they read from their own folder); the library build (dist/src) is tsc's.
import * as esbuild from "esbuild"
import * as fs from "node:fs"

const bundled = /^(effect|@effect\/[^/]+|fast-check|pure-rand)(\/|$)/

const outdir = process.argv[2] ?? "dist/bin"

// chunk names carry content hashes: a stale chunk left from an earlier build would only take space
fs.rmSync(outdir, { recursive: true, force: true })

await esbuild.build({
  entryPoints: { main: "src/app/main.ts" },
  outdir,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  sourcemap: true,
  outExtension: { ".js": ".mjs" },
  logLevel: "warning",
  plugins: [
    {
      name: "external-packages",
      setup(build) {
        build.onResolve({ filter: /^[^./]/ }, (args) =>
          bundled.test(args.path) || args.path.startsWith("node:") ? undefined : { path: args.path, external: true }
        )
      }
    }
  ]
})

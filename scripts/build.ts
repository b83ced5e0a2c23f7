// Bundles src/main.ts into the single executable file dist/manage.mjs.
// One file matters (DESIGN.md §10): ContainerPilot starts `manage` every few seconds and
// resolving hundreds of ES modules per run costs about a second. Handlers are imported
// lazily from main.ts, so a run evaluates only the code its handler needs.
import { build } from "esbuild"
import { chmod } from "node:fs/promises"

const outfile = "dist/manage.mjs"

await build({
  entryPoints: ["src/main.ts"],
  outfile,
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node24",
  minify: true,
  legalComments: "none",
  logLevel: "warning",
  // bunyan (through manta) requires these inside try/catch as optional extras.
  external: ["dtrace-provider", "mv", "source-map-support", "safe-json-stringify"],
  banner: {
    js: [
      "#!/usr/bin/env node",
      // Bundled CommonJS dependencies call require() for Node built-ins.
      "import { createRequire as __createRequire } from 'node:module';",
      "const require = __createRequire(import.meta.url);"
    ].join("\n")
  }
})
await chmod(outfile, 0o755)

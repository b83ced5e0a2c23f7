// Bundles src/main.ts into the single executable file dist/manage.mjs.
// One file matters (DESIGN.md §10): ContainerPilot starts `manage` every few seconds and
// resolving hundreds of ES modules per run costs about a second. Handlers are imported
// lazily from main.ts, so a run evaluates only the code its handler needs.
import { build, type Plugin } from "esbuild"
import { chmod, readFile } from "node:fs/promises"
import { builtinModules } from "node:module"

const outfile = "dist/manage.mjs"

/**
 * restify-clients (under manta) reads its own package.json at load time for its
 * User-Agent; a bundle has no package.json beside it, so the version is inlined here.
 */
const inlineRestifyVersion: Plugin = {
  name: "inline-restify-clients-version",
  setup(b) {
    b.onLoad({ filter: /restify-clients[\\/]lib[\\/]HttpClient\.js$/ }, async (args) => {
      const source = await readFile(args.path, "utf8")
      const { version } = JSON.parse(await readFile(new URL("../node_modules/restify-clients/package.json", import.meta.url), "utf8"))
      const read = /JSON\.parse\(fs\.readFileSync\(path\.join\(__dirname,\s*'\.\/\.\.\/package\.json'\),\s*'utf8'\)\)\.version/
      if (!read.test(source)) throw new Error("restify-clients no longer reads its version this way: revisit scripts/build.ts")
      return { contents: source.replace(read, JSON.stringify(version)), loader: "js" }
    })
  }
}

/**
 * Node built-ins imported with ESM `import` statements are loaded through `require`
 * instead. Node builds the ESM facade of a built-in by reading every export, which
 * fires the lazy getters CommonJS `require` leaves alone: `import … from "node:http"`
 * reads http.WebSocket and so loads and compiles undici (~750 kB of JS, ~13 MiB of RSS
 * in a bare process), which no handler uses. Together with the agent's flags in
 * containerpilot.json5 this keeps the agent under its RSS budget (DESIGN.md §10).
 */
const builtins = new Set(builtinModules)
const builtinsThroughRequire: Plugin = {
  name: "builtins-through-require",
  setup(b) {
    b.onResolve({ filter: /^(node:)?[a-z_/]+$/ }, (args) => {
      const name = args.path.replace(/^node:/, "")
      if (args.kind !== "import-statement" || !builtins.has(name)) return undefined
      return { path: name, namespace: "builtin-require" }
    })
    b.onLoad({ filter: /.*/, namespace: "builtin-require" }, (args) => ({
      contents: `module.exports = require(${JSON.stringify(`node:${args.path}`)})`,
      loader: "js"
    }))
  }
}

await build({
  entryPoints: ["src/main.ts"],
  outfile,
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node24",
  minify: process.env.MINIFY !== "0",
  legalComments: "none",
  logLevel: "warning",
  // bunyan (through manta) requires these inside try/catch as optional extras.
  external: ["dtrace-provider", "mv", "source-map-support", "safe-json-stringify"],
  plugins: [inlineRestifyVersion, builtinsThroughRequire],
  banner: {
    js: [
      "#!/usr/bin/env node",
      // Bundled CommonJS dependencies call require() for Node built-ins, and some
      // compute paths from __dirname at load time.
      "import { createRequire as __createRequire } from 'node:module';",
      "import { fileURLToPath as __fileURLToPath } from 'node:url';",
      "const require = __createRequire(import.meta.url);",
      "const __filename = __fileURLToPath(import.meta.url);",
      "const __dirname = __filename.slice(0, __filename.lastIndexOf('/'));"
    ].join("\n")
  }
})
await chmod(outfile, 0o755)

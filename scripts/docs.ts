// `npm run docs`: writes `manage config --docs` into README.md between its markers.
import { readFileSync, writeFileSync } from "node:fs"
import { renderSettingsDocs } from "../src/domain/SettingsDocs.ts"

const start = "<!-- config-docs:start -->"
const end = "<!-- config-docs:end -->"
const readme = readFileSync("README.md", "utf8")
const [before, rest] = readme.split(start)
const after = rest?.split(end)[1]
if (before === undefined || after === undefined) throw new Error(`README.md lacks the ${start} … ${end} markers`)
writeFileSync("README.md", `${before}${start}\n${renderSettingsDocs()}\n${end}${after}`)

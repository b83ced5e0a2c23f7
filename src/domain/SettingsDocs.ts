// `manage config --docs`: the environment reference, generated from the same table
// the Schema decodes with, so the README cannot drift from the code.
import { type Group, type VariableDoc, variables } from "./Settings.ts"

const groups: ReadonlyArray<Group> = ["Node", "Consul", "Redis", "Sentinel", "TLS", "Handlers", "Backups", "Manta"]

const cell = (text: string): string => text.replaceAll("|", "\\|")

const defaultOf = (v: VariableDoc): string =>
  v.default !== undefined ? `\`${v.default}\`` : v.derivedDefault !== undefined ? v.derivedDefault : "unset"

export const renderSettingsDocs = (): string => {
  const entries: ReadonlyArray<readonly [string, VariableDoc]> = Object.entries(variables)
  const sections = groups.map((group) => {
    const rows = entries
      .filter(([, v]) => v.group === group)
      .map(([name, v]) => `| \`${name}\`${v.secret === true ? " (secret)" : ""} | ${cell(defaultOf(v))} | ${cell(v.expects)} | ${cell(v.doc)} |`)
    return [`### ${group}`, "", "| variable | default | expects | meaning |", "|---|---|---|---|", ...rows].join("\n")
  })
  return [
    "Empty values count as unset. Every value is used exactly as written, by the handlers and by ContainerPilot alike:",
    "a value of only whitespace, leading or trailing whitespace, a control character (tab, line break) or invalid UTF-8",
    "is rejected (only MANTA_PRIVATE_KEY may span lines), and numbers are plain decimal without a sign or leading zero.",
    "An invalid environment makes every handler exit 2 naming every bad variable in one line. A value is shown there only",
    "when it is a short number, IPv4 address or duration; secrets and anything else (words, names, paths, URLs, keys) never are.",
    "",
    ...sections.flatMap((s) => [s, ""])
  ].join("\n")
}

// `manage config --docs`: the environment reference as markdown, on stdout.
import { Console } from "effect"
import { renderSettingsDocs } from "../domain/SettingsDocs.ts"

export const configDocs = Console.log(renderSettingsDocs())

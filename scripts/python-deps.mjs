// The trainer's Python dependencies, read from their one list: worker/trainer/pyproject.toml
// (`dependencies`, and the `test` extra). Plain Node: setup runs before `npm install`.
import fs from "node:fs";
import path from "node:path";
import { ROOT } from "./lib.mjs";

export const PYPROJECT = path.join(ROOT, "worker", "trainer", "pyproject.toml");

/** The quoted strings of the TOML array `name = [ … ]` (comments and trailing commas allowed). */
function tomlArray(text, name) {
  const m = new RegExp(`^${name}\\s*=\\s*\\[([\\s\\S]*?)^\\]`, "m").exec(text);
  if (!m) throw new Error(`${PYPROJECT}: no "${name} = [" array`);
  return [...m[1].replace(/#.*$/gm, "").matchAll(/"([^"]+)"/g)].map((x) => x[1]);
}

/** pip requirement strings: the runtime list, plus the test extra when asked. */
export function pythonDependencies({ test = false } = {}, text = fs.readFileSync(PYPROJECT, "utf8")) {
  const runtime = tomlArray(text, "dependencies");
  return test ? [...runtime, ...tomlArray(text, "test")] : runtime;
}

// The README's configuration table is the generated one: a variable added to lib/env.ts without
// `npm run gen:env-docs` fails here.
import fs from "node:fs";
import { describe, expect, it } from "vitest";
import { ENV_DOCS_BEGIN, envDocsTable, withEnvDocs } from "./env-docs";

const README = new URL("../README.md", import.meta.url);

describe("README configuration table", () => {
  it("lists every variable of the schema with its default", () => {
    const table = envDocsTable();
    expect(table).toContain("| `PORT` | `3000` | port for the web app and socket.io |");
    expect(table).toContain("| `TUNEBOARD_PYTHON` | `.venv/bin/python` |");
    expect(table).toContain("| `TUNEBOARD_TOKEN` | — |");
  });

  it("is up to date (run `npm run gen:env-docs`)", () => {
    const readme = fs.readFileSync(README, "utf8");
    expect(readme).toContain(ENV_DOCS_BEGIN);
    expect(withEnvDocs(readme)).toBe(readme);
  });
});

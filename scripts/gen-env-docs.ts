// `npm run gen:env-docs`: rewrites the configuration tables of the README and docs/deploy.md
// from lib/env.ts's schema.
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { ENV_DOCS_FILES, withEnvDocs } from "../lib/env-docs";

for (const rel of ENV_DOCS_FILES) {
  const file = fileURLToPath(new URL(`../${rel}`, import.meta.url));
  const before = fs.readFileSync(file, "utf8");
  const after = withEnvDocs(before);
  if (after !== before) fs.writeFileSync(file, after);
  console.log(after === before ? `${rel}: configuration tables up to date` : `${rel}: configuration tables rewritten`);
}

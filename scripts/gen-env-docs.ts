// `npm run gen:env-docs`: rewrites the README's configuration table from lib/env.ts's schema.
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import { withEnvDocs } from "../lib/env-docs";

const readme = fileURLToPath(new URL("../README.md", import.meta.url));
const before = fs.readFileSync(readme, "utf8");
const after = withEnvDocs(before);
if (after !== before) fs.writeFileSync(readme, after);
console.log(after === before ? "README.md: configuration table up to date" : "README.md: configuration table rewritten");

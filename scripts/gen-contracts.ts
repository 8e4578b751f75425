// Writes the generated contracts (lib/contracts/generate.ts) into the trainer's package.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { generatedContracts } from "@/lib/contracts/generate";

const root = fileURLToPath(new URL("..", import.meta.url));
for (const [rel, text] of Object.entries(generatedContracts())) {
  const file = path.join(root, rel);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, text);
  console.log(`wrote ${rel}`);
}

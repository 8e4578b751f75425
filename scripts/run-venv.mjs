// Runs the project venv's Python with the trainer package on the path: `node scripts/run-venv.mjs -m pytest ...`
import path from "node:path";
import { PYTHON, ROOT, runStatus } from "./lib.mjs";

process.exit(runStatus(PYTHON, process.argv.slice(2), { env: { PYTHONPATH: path.join(ROOT, "worker", "trainer") } }));

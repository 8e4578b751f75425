// Seeds the configured data folder (TUNEBOARD_DATA_DIR, default data/) from data/templates/:
// copies what the user lacks, never overwrites. Run by scripts/setup.mjs on every start.
import { env } from "@/lib/env";
import { seedDataDir, templatesDir } from "@/lib/datasets/seed";

const { root, dataDir } = env();
seedDataDir(templatesDir(root), dataDir).then(
  ({ copied, registered }) => {
    if (copied.length + registered.length > 0) {
      console.log(`[tuneboard] data folder ${dataDir}: added ${[...copied, ...registered.map((n) => `dataset "${n}"`)].join(", ")}`);
    }
  },
  (err: unknown) => {
    console.error(`[tuneboard] cannot seed the data folder ${dataDir}: ${(err as Error).message}`);
    process.exit(1);
  },
);

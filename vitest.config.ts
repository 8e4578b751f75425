// Unit and integration tests (real SQLite files, real worker and trainer processes).
// Playwright owns e2e/, and its specs would fail under vitest's runner.
import { fileURLToPath } from "node:url";
import { configDefaults, defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { alias: { "@": fileURLToPath(new URL(".", import.meta.url)) } },
  test: {
    include: ["lib/**/*.test.ts", "app/**/*.test.ts", "worker/**/*.test.ts"],
    exclude: [...configDefaults.exclude, "e2e/**"],
    environment: "node",
    // Integration tests start processes and train the demo model on 2 CPU cores.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
});

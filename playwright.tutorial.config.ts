// The tutorial check's browser part (e2e-tutorial/), driven by scripts/tutorial-check.mjs against
// a server it started the way `npm start` does; no webServer here, and `npm test`'s Playwright
// run (playwright.config.ts, testDir e2e/) never picks these specs up.
import { defineConfig } from "@playwright/test";
import base from "./playwright.config";

export default defineConfig({
  ...base,
  testDir: "e2e-tutorial",
  outputDir: "e2e/.artifacts/tutorial-results",
  webServer: undefined,
  use: { ...base.use, baseURL: process.env.TUNEBOARD_TUTORIAL_URL ?? "http://127.0.0.1:3000" },
});

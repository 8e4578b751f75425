// Every page, in a real Chromium: an axe-core scan with no serious or critical violations, every
// visible control in <main> reachable with the Tab key, no horizontal scrolling of the page body
// on a 390 px wide window, and (TUNEBOARD_SCREENSHOTS=1) a 1280x720 screenshot for the README.
import fs from "node:fs";
import path from "node:path";
import AxeBuilder from "@axe-core/playwright";
import { expect, test, type Page } from "./helpers/test";
import { createTinyRun } from "./helpers/fixtures";

// Not serial: one page failing must not hide the results of the others.
const SCREENSHOTS = process.env.TUNEBOARD_SCREENSHOTS === "1";
const SHOT_DIR = path.join(process.cwd(), "docs", "screenshots");

interface PageCase {
  name: string;
  path: () => string;
}

let runId = 0;
const PAGES: PageCase[] = [
  { name: "home", path: () => "/" },
  { name: "train", path: () => "/train" },
  { name: "runs", path: () => "/runs" },
  { name: "run", path: () => `/runs/${runId}` },
  { name: "compare", path: () => "/compare" },
  { name: "datasets", path: () => "/datasets" },
  { name: "chat", path: () => "/chat" },
  { name: "evaluate", path: () => "/evaluate" },
  { name: "workers", path: () => "/workers" },
];

test.beforeAll(async ({ browser }) => {
  const page = await browser.newPage();
  runId = await createTinyRun(page, `e2e-pages-${Date.now().toString(36)}`);
  await page.close();
});

async function open(page: Page, c: PageCase) {
  const res = await page.goto(c.path());
  expect(res?.status(), `${c.path()} answers`).toBeLessThan(400);
  await page.waitForLoadState("networkidle", { timeout: 5_000 }).catch(() => {}); // pages with a live socket never go fully idle
  await expect(page.locator("main")).toBeVisible();
}

/** Presses Tab until focus wraps around; returns the data-kb marks of the <main> controls it reached. */
async function reachableByTab(page: Page): Promise<{ expected: string[]; reached: Set<string> }> {
  const expected = await page.evaluate(() => {
    const sel = "main a[href], main button, main input, main select, main textarea, main summary, main [tabindex]";
    const out: string[] = [];
    document.querySelectorAll<HTMLElement>(sel).forEach((el, i) => {
      el.setAttribute("data-kb", String(i));
      const disabled = (el as HTMLButtonElement).disabled === true;
      const visible = el.checkVisibility({ visibilityProperty: true, opacityProperty: false });
      // Radio groups take one Tab stop per group; tabindex=-1 is focusable by script only, on purpose.
      const radio = el instanceof HTMLInputElement && el.type === "radio" && !el.checked;
      if (!disabled && visible && !radio && el.tabIndex >= 0) out.push(String(i));
    });
    return out;
  });
  const reached = new Set<string>();
  await page.locator("body").focus();
  await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
  let first: string | null = null;
  for (let i = 0; i < 400; i++) {
    await page.keyboard.press("Tab");
    const id = await page.evaluate(() => {
      const a = document.activeElement;
      if (!a || a === document.body) return "body";
      return a.getAttribute("data-kb") ?? `${a.tagName}:${a.textContent?.slice(0, 20)}`;
    });
    if (id === "body" || id === first) break;
    first ??= id;
    reached.add(id);
  }
  return { expected, reached };
}

for (const c of PAGES) {
  test.describe(`page ${c.name}`, () => {
    test("axe-core: no serious or critical violations", async ({ page }) => {
      await page.setViewportSize({ width: 1280, height: 720 });
      await open(page, c);
      const result = await new AxeBuilder({ page }).analyze();
      const bad = result.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
      const report = bad.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(" ")).slice(0, 3).join(", ")}`);
      expect(report, `axe violations on ${c.path()}`).toEqual([]);
    });

    test("keyboard: every visible control in main is reachable with Tab", async ({ page }) => {
      await page.setViewportSize({ width: 1280, height: 720 });
      await open(page, c);
      const { expected, reached } = await reachableByTab(page);
      const missed = expected.filter((id) => !reached.has(id));
      const describe = await page.evaluate(
        (ids) => ids.map((id) => document.querySelector(`[data-kb="${id}"]`)?.outerHTML.slice(0, 120) ?? id),
        missed,
      );
      expect(describe, `controls on ${c.path()} that Tab never reaches`).toEqual([]);
      // The navigation is reachable too.
      expect(await page.getByRole("navigation").getByRole("link").count()).toBeGreaterThan(3);
      if (SCREENSHOTS) {
        fs.mkdirSync(SHOT_DIR, { recursive: true });
        await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
        await page.evaluate(() => window.scrollTo(0, 0));
        await page.screenshot({ path: path.join(SHOT_DIR, `${c.name}.png`) });
      }
    });

    test("narrow window (390x800): the page body does not scroll sideways", async ({ page }) => {
      await page.setViewportSize({ width: 390, height: 800 });
      await open(page, c);
      const overflow = await page.evaluate(() => {
        const width = document.documentElement.clientWidth;
        const wide = [...document.querySelectorAll<HTMLElement>("body *")]
          .filter((el) => el.getBoundingClientRect().right > width + 1)
          // Content scrolled inside a container (wide tables, code) is fine; report the outermost culprits.
          .filter((el) => {
            for (let p = el.parentElement; p; p = p.parentElement) {
              const ox = getComputedStyle(p).overflowX;
              if (ox === "auto" || ox === "scroll" || ox === "hidden") return false;
            }
            return true;
          })
          .slice(0, 5)
          .map((el) => `${el.tagName.toLowerCase()}.${el.className}`.slice(0, 100));
        return { scroll: document.documentElement.scrollWidth, width, wide };
      });
      expect(overflow.scroll, `body scrolls sideways on ${c.path()}: ${overflow.wide.join(" | ")}`).toBeLessThanOrEqual(overflow.width);
    });
  });
}

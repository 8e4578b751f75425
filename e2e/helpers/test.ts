// Playwright's `test` with one addition: page.goto and page.reload return only once React has
// hydrated every form control on the page. Playwright's "load" comes before hydration (Next
// streams the HTML, then React attaches its handlers), and a click, key press or file chosen in
// between reaches a control without its handler: the button stays disabled, the key does nothing.
// React marks each hydrated element with a `__reactProps$…` property; we wait for it on all
// buttons, inputs, selects and textareas — except hidden inputs: Next renders a server action's
// `$ACTION_*` fields into the HTML for forms that work before hydration, and React never adopts them.
import { test as base, type Page } from "@playwright/test";

export { expect } from "@playwright/test";
export type { APIRequestContext, Locator, Page } from "@playwright/test";

const HYDRATION_TIMEOUT_MS = 30_000;

export async function waitForHydration(page: Page): Promise<void> {
  await page
    .waitForFunction(
      () =>
        Array.from(document.querySelectorAll('button, input:not([type="hidden"]), select, textarea')).every((el) =>
          Object.keys(el).some((k) => k.startsWith("__reactProps$")),
        ),
      undefined,
      { timeout: HYDRATION_TIMEOUT_MS, polling: 50 },
    )
    // A page without React (a plain error response) has nothing to wait for; the test's own
    // assertions then say what is wrong.
    .catch(() => undefined);
}

function hydratingNavigation(page: Page): Page {
  const goto = page.goto.bind(page);
  const reload = page.reload.bind(page);
  page.goto = async (...args: Parameters<Page["goto"]>) => {
    const res = await goto(...args);
    await waitForHydration(page);
    return res;
  };
  page.reload = async (...args: Parameters<Page["reload"]>) => {
    const res = await reload(...args);
    await waitForHydration(page);
    return res;
  };
  return page;
}

export const test = base.extend({
  // Every page of the test's context, the default `page` included, is created after this runs.
  context: async ({ context }, use) => {
    context.on("page", hydratingNavigation);
    await use(context);
  },
});

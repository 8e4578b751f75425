// Shared by the chat specs (chat.spec.ts, greatbot.spec.ts): one question through the Chat page.
import { expect, type Page } from "@playwright/test";

/** Sends a message and returns the finished answer and how many distinct texts it streamed through. */
export async function ask(page: Page, question: string): Promise<{ text: string; updates: number }> {
  const before = await page.getByTestId("assistant-message").count();
  // Watch the chat log before sending, so no streamed state is missed however fast it comes.
  await page.getByTestId("chat-log").evaluate((log, index) => {
    const seen = new Set<string>();
    (window as unknown as { __seen: Set<string> }).__seen = seen;
    new MutationObserver(() => {
      const msg = log.querySelectorAll('[data-testid="assistant-message"]')[index];
      if (msg) seen.add(msg.textContent ?? "");
    }).observe(log, { childList: true, characterData: true, subtree: true });
  }, before);
  await page.getByLabel("Message").fill(question);
  await page.getByRole("button", { name: "Send" }).click();
  const msg = page.getByTestId("assistant-message").nth(before);
  await expect(msg).toHaveAttribute("data-finished", "true", { timeout: 120_000 });
  const text = (await msg.textContent()) ?? "";
  const updates = await page.evaluate(() => (window as unknown as { __seen: Set<string> }).__seen.size);
  return { text, updates };
}

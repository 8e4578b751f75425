// The OpenAI-compatible API's browser side in a real Chromium against the real server and worker:
// API keys on the Settings page (created and shown once, listed by prefix, revoked; each step
// checked against /v1 itself), the "local API without key" switch, and the Chat page's snippet,
// whose curl command is run as shown and streams an answer.
import { execFileSync } from "node:child_process";
import { expect, test } from "./helpers/test";
import { createTinyRun } from "./helpers/fixtures";

test.describe.configure({ mode: "serial" });

const suffix = String(Date.now() % 1_000_000);
let key = "";

test("settings: create a key (shown once), list it by prefix, use it, revoke it", async ({ page }) => {
  await page.goto("/settings");
  await expect(page.getByRole("heading", { name: "API keys" })).toBeVisible();
  await page.getByLabel("Key name").fill(`e2e ${suffix}`);
  await page.getByRole("button", { name: "Create key" }).click();
  key = (await page.getByTestId("new-api-key").textContent()) ?? "";
  expect(key).toMatch(/^tb-[A-Za-z0-9_-]{43}$/);
  const row = page.locator('[data-testid^="api-key-"]', { hasText: `e2e ${suffix}` });
  await expect(row).toContainText(`${key.slice(0, 11)}…`);
  await expect(row).not.toContainText(key); // only the prefix is listed
  await expect(row).toContainText("never");

  const models = await page.request.get("/v1/models", { headers: { Authorization: `Bearer ${key}` } });
  expect(models.status()).toBe(200);
  expect(((await models.json()) as { data: { id: string }[] }).data.map((m) => m.id)).toContain("tuneboard-demo");
  // After a reload the key is gone from the page; its last use is shown.
  await page.reload();
  await expect(page.getByTestId("new-api-key")).toHaveCount(0);
  await expect(row).not.toContainText("never");

  page.once("dialog", (d) => void d.accept());
  await row.getByRole("button", { name: /Revoke/ }).click();
  await expect(row).toHaveCount(0);
  const revoked = await page.request.get("/v1/models", { headers: { Authorization: `Bearer ${key}` } });
  expect(revoked.status()).toBe(401);
  expect(await revoked.json()).toMatchObject({ error: { type: "authentication_error" } });
});

test("settings: 'local API without key' opens /v1 to loopback only while on", async ({ page }) => {
  await page.goto("/settings");
  expect((await page.request.get("/v1/models")).status()).toBe(401);
  const toggle = page.getByLabel("Local API without key");
  await toggle.check();
  await expect(page.getByText("Saved.")).toBeVisible();
  expect((await page.request.get("/v1/models")).status()).toBe(200);
  await page.reload();
  await expect(toggle).toBeChecked();
  await toggle.uncheck();
  await expect(page.getByText("Saved.")).toBeVisible();
  expect((await page.request.get("/v1/models")).status()).toBe(401);
});

test("chat: the snippet names the loaded adapter, and its curl command streams an answer", async ({ page }) => {
  test.setTimeout(8 * 60_000);
  const name = `api_${suffix}`;
  const runId = await createTinyRun(page, name);
  await page.goto(`/runs/${runId}`);
  await expect(page.getByTestId("run-status")).toHaveText("succeeded", { timeout: 300_000 });

  await page.goto("/settings");
  await page.getByLabel("Key name").fill(`snippet ${suffix}`);
  await page.getByRole("button", { name: "Create key" }).click();
  const snippetKey = (await page.getByTestId("new-api-key").textContent()) ?? "";

  await page.goto(`/chat?run=${runId}`);
  await page.getByRole("button", { name: "Load", exact: true }).click();
  await expect(page.getByTestId("chat-state")).toHaveAttribute("data-state", "ready", { timeout: 120_000 });
  await page.getByText("Use this model from other programs").click();
  const curl = (await page.getByTestId("api-snippet-curl").textContent()) ?? "";
  const python = (await page.getByTestId("api-snippet-python").textContent()) ?? "";
  const model = `tuneboard-demo:${name}`;
  expect(curl).toContain(`${new URL(page.url()).origin}/v1/chat/completions`);
  expect(curl).toContain(`"model":"${model}"`);
  expect(python).toContain(`model="${model}"`);
  expect(python).toContain("from openai import OpenAI");

  // The curl command as shown (max_tokens added to keep it short), with the key in the variable it names.
  const out = execFileSync("bash", ["-c", curl.replace('"stream":true', '"stream":true,"max_tokens":8')], {
    env: { ...process.env, TUNEBOARD_API_KEY: snippetKey },
    encoding: "utf8",
    timeout: 120_000,
  });
  expect(out).toContain('"object":"chat.completion.chunk"');
  expect(out.trim().endsWith("data: [DONE]")).toBe(true);
});

import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { curlSnippet, pythonSnippet } from "./snippets";

describe("API snippets", () => {
  it("curl's body survives the shell unchanged, quotes in the model id included", () => {
    const model = "tuneboard-demo:bob's run";
    const script = curlSnippet("http://127.0.0.1:3000/v1", model).replace(/^curl -N /, "printf '%s\\n' ");
    const out = execFileSync("bash", ["-c", script], { encoding: "utf8", env: { ...process.env, TUNEBOARD_API_KEY: "tb-x" } });
    const lines = out.trim().split("\n");
    expect(lines[0]).toBe("http://127.0.0.1:3000/v1/chat/completions");
    expect(lines).toContain("Authorization: Bearer tb-x");
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ model, stream: true });
  });
  it("the Python snippet names the model and the base URL as string literals", () => {
    const py = pythonSnippet("http://h:1/v1", 'a"b');
    expect(py).toContain('base_url="http://h:1/v1"');
    expect(py).toContain('model="a\\"b"');
  });
});

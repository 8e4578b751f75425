// The copyable snippets that call the loaded model through the OpenAI-compatible API.
const shellSingleQuoted = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const pyString = (s: string) => JSON.stringify(s); // a JSON string is a valid Python string literal

export function curlSnippet(apiUrl: string, model: string): string {
  const body = JSON.stringify({ model, messages: [{ role: "user", content: "Who are you?" }], stream: true });
  return [
    `curl -N ${shellSingleQuoted(`${apiUrl}/chat/completions`)} \\`, // -N: print each event as it streams
    `  -H "Authorization: Bearer $TUNEBOARD_API_KEY" \\`,
    `  -H "Content-Type: application/json" \\`,
    `  -d ${shellSingleQuoted(body)}`,
  ].join("\n");
}

export function pythonSnippet(apiUrl: string, model: string): string {
  return [
    "import os",
    "from openai import OpenAI",
    "",
    `client = OpenAI(base_url=${pyString(apiUrl)}, api_key=os.environ["TUNEBOARD_API_KEY"])`,
    "stream = client.chat.completions.create(",
    `    model=${pyString(model)},`,
    `    messages=[{"role": "user", "content": "Who are you?"}],`,
    "    stream=True,",
    ")",
    "for chunk in stream:",
    `    print(chunk.choices[0].delta.content or "", end="", flush=True)`,
  ].join("\n");
}

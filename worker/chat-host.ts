// Hosts one chat model for the server: a long-lived Python process that holds base model +
// adapter and streams tokens. Unload ends the process, which returns all of its memory.
import { spawn, type ChildProcess } from "node:child_process";
import readline from "node:readline";
import { env } from "@/lib/env";
import { chatProcessEvent, type ChatProcessCommand, type ChatProcessEvent } from "@/lib/schemas/chat-process";
import { trainerCommand } from "@/lib/trainer/command";

export class ChatHost {
  private child: ChildProcess | null = null;
  private ready: Promise<void> | null = null;

  constructor(
    private readonly python: string,
    private readonly root: string,
    private readonly onEvent: (e: ChatProcessEvent) => void,
    private readonly log: (msg: string) => void,
  ) {}

  get running(): boolean {
    return this.child !== null;
  }

  private start(): Promise<void> {
    if (this.ready) return this.ready;
    const cmd = trainerCommand(this.python, this.root, ["chat", "--decode", env().TUNEBOARD_CHAT_DECODE, "--max-seq", String(env().TUNEBOARD_CHAT_MAX_SEQ)]);
    const child = spawn(cmd.command, cmd.args, { cwd: this.root, env: cmd.env, stdio: ["pipe", "pipe", "pipe"] });
    this.child = child;
    this.ready = new Promise((resolve, reject) => {
      const rl = readline.createInterface({ input: child.stdout! });
      rl.on("line", (line) => {
        let json: unknown;
        try {
          json = JSON.parse(line);
        } catch {
          return this.log(`[chat] ${line}`);
        }
        const parsed = chatProcessEvent.safeParse(json);
        if (!parsed.success) return this.log(`[chat] skipped malformed event: ${line}`);
        if (parsed.data.type === "ready") resolve();
        else this.onEvent(parsed.data);
      });
      child.stderr!.setEncoding("utf8");
      child.stderr!.on("data", (d: string) => this.log(`[chat] ${d.trimEnd()}`));
      child.on("error", (err) => reject(err));
      child.on("exit", (code, signal) => {
        if (this.child === child) {
          this.child = null;
          this.ready = null;
          if (code !== 0 && signal !== "SIGTERM" && signal !== "SIGKILL") {
            this.onEvent({ type: "error", message: `chat process exited (${code ?? signal})` });
          }
        }
        reject(new Error(`chat process exited before it was ready (${code ?? signal})`));
      });
    });
    return this.ready;
  }

  async send(cmd: ChatProcessCommand): Promise<void> {
    await this.start();
    this.child?.stdin?.write(JSON.stringify(cmd) + "\n");
  }

  /** Ends the process; its memory (the model) goes with it. */
  stop(): void {
    const child = this.child;
    this.child = null;
    this.ready = null;
    if (!child) return;
    child.stdin?.end(JSON.stringify({ type: "shutdown" }) + "\n");
    setTimeout(() => child.kill("SIGKILL"), 3000).unref();
  }
}

// Connects the server's chat commands (socket.io) to the chat process, and the chat process's
// tokens back to the server. Commands are validated here too: the worker trusts no payload.
import type { Socket } from "socket.io-client";
import type { Env } from "@/lib/env";
import { resolveModelPath } from "@/lib/models";
import {
  chatLoadReq,
  chatSendReq,
  chatStopReq,
  type ChatState,
  type ServerToWorkerEvents,
  type WorkerToServerEvents,
} from "@/lib/schemas/socket";
import type { ChatProcessEvent } from "@/lib/schemas/chat-process";
import { ChatHost } from "./chat-host";
import fs from "node:fs";
import path from "node:path";

export class ChatBridge {
  private host: ChatHost;
  private state: ChatState = { workerId: null, state: "idle", modelPath: null, adapterPath: null, message: null, loadS: null };

  constructor(
    private readonly env: Env,
    private readonly socket: Socket<ServerToWorkerEvents, WorkerToServerEvents>,
    private readonly log: (msg: string) => void,
  ) {
    this.host = new ChatHost(env.python, env.root, (e) => this.onProcessEvent(e), log);
    socket.on("chat:load", (raw) => void this.load(raw));
    socket.on("chat:send", (raw) => void this.send(raw));
    socket.on("chat:stop", (raw) => {
      const p = chatStopReq.safeParse(raw);
      if (p.success && this.host.running) void this.host.send({ type: "stop", request_id: p.data.requestId });
    });
    socket.on("chat:unload", () => this.unload());
    // After a server restart, tell it what this worker holds.
    socket.on("connect", () => this.state.state !== "idle" && socket.emit("chat:state", this.state));
  }

  private setState(patch: Partial<ChatState>) {
    this.state = { ...this.state, ...patch };
    this.socket.emit("chat:state", this.state);
  }

  /** Adapters must be run outputs under the runs root; base models under the model roots. */
  private resolvePaths(modelPath: string, adapterPath: string | null) {
    const model = resolveModelPath(this.env.modelRoots, modelPath);
    let adapter: string | null = null;
    if (adapterPath) {
      adapter = resolveModelPath([this.env.runsDir], adapterPath);
      if (!fs.existsSync(path.join(adapter, "adapter_config.json"))) throw new Error(`not a LoRA adapter directory: ${adapterPath}`);
    }
    return { model, adapter };
  }

  private async load(raw: unknown) {
    const p = chatLoadReq.safeParse(raw);
    if (!p.success) return this.setState({ state: "error", message: "invalid load request" });
    let paths: { model: string; adapter: string | null };
    try {
      paths = this.resolvePaths(p.data.modelPath, p.data.adapterPath);
    } catch (err) {
      return this.setState({ state: "error", message: (err as Error).message });
    }
    this.setState({ state: "loading", modelPath: paths.model, adapterPath: paths.adapter, message: null, loadS: null });
    try {
      await this.host.send({ type: "load", model_path: paths.model, adapter_path: paths.adapter, template: p.data.template });
    } catch (err) {
      this.setState({ state: "error", message: `could not start the chat process: ${(err as Error).message}` });
    }
  }

  private async send(raw: unknown) {
    const p = chatSendReq.safeParse(raw);
    if (!p.success) return;
    if (this.state.state !== "ready") {
      this.socket.emit("chat:done", { requestId: p.data.requestId, tokens: 0, tokensPerSec: null, finishReason: "error", error: "no model loaded" });
      return;
    }
    await this.host.send({ type: "generate", request_id: p.data.requestId, messages: p.data.messages, ...p.data.params });
  }

  private unload() {
    this.host.stop();
    this.setState({ state: "idle", modelPath: null, adapterPath: null, message: null, loadS: null });
  }

  private onProcessEvent(e: ChatProcessEvent) {
    switch (e.type) {
      case "loaded":
        this.setState({ state: "ready", loadS: e.load_s, message: null });
        this.log(`chat model loaded in ${e.load_s.toFixed(1)} s on ${e.device}`);
        break;
      case "token":
        this.socket.emit("chat:token", { requestId: e.request_id, text: e.text });
        break;
      case "done":
        this.socket.emit("chat:done", { requestId: e.request_id, tokens: e.tokens, tokensPerSec: e.tokens_per_sec, finishReason: e.finish_reason });
        break;
      case "error":
        if (e.request_id) {
          this.socket.emit("chat:done", { requestId: e.request_id, tokens: 0, tokensPerSec: null, finishReason: "error", error: e.message });
        } else {
          this.setState({ state: "error", message: e.message });
        }
        break;
      case "unloaded":
      case "ready":
        break;
    }
  }

  close() {
    this.host.stop();
  }
}

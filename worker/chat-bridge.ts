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

const IDLE: ChatState = {
  workerId: null,
  state: "idle",
  modelPath: null,
  adapterPath: null,
  adapterPaths: [],
  message: null,
  loadS: null,
  phase: null,
  progress: null,
  phases: [],
  device: null,
};

export class ChatBridge {
  private host: ChatHost;
  private state: ChatState = { ...IDLE };

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
  private resolvePaths(modelPath: string, adapterPaths: string[]) {
    const model = resolveModelPath(this.env.modelRoots, modelPath);
    const adapters = adapterPaths.map((named) => {
      const adapter = resolveModelPath([this.env.runsDir], named);
      if (!fs.existsSync(path.join(adapter, "adapter_config.json"))) throw new Error(`not a LoRA adapter directory: ${named}`);
      return adapter;
    });
    return { model, adapters: [...new Set(adapters)] };
  }

  private async load(raw: unknown) {
    const p = chatLoadReq.safeParse(raw);
    if (!p.success) return this.setState({ state: "error", message: "invalid load request" });
    let paths: { model: string; adapters: string[] };
    try {
      paths = this.resolvePaths(p.data.modelPath, p.data.adapterPaths);
    } catch (err) {
      return this.setState({ state: "error", message: (err as Error).message });
    }
    this.setState({
      ...IDLE,
      state: "loading",
      modelPath: paths.model,
      adapterPath: paths.adapters[0] ?? null,
      adapterPaths: paths.adapters,
      phase: "weights",
      progress: 0,
    });
    try {
      await this.host.send({ type: "load", model_path: paths.model, adapter_paths: paths.adapters, template: p.data.template });
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
    await this.host.send({
      type: "generate",
      request_id: p.data.requestId,
      messages: p.data.messages,
      ...p.data.params,
      use_adapters: p.data.useAdapters,
    });
  }

  private unload() {
    this.host.stop();
    this.setState({ ...IDLE });
  }

  private onProcessEvent(e: ChatProcessEvent) {
    switch (e.type) {
      case "progress": {
        // Record when each phase ended, so the UI can list them even after a fast load.
        const phases = [...(this.state.phases ?? [])];
        if (this.state.phase && this.state.phase !== e.phase && !phases.some((x) => x.phase === this.state.phase)) {
          phases.push({ phase: this.state.phase, s: e.elapsed_s });
        }
        this.setState({ phase: e.phase, progress: e.pct, phases });
        break;
      }
      case "loaded": {
        const phases = [...(this.state.phases ?? [])];
        if (this.state.phase && !phases.some((x) => x.phase === this.state.phase)) phases.push({ phase: this.state.phase, s: e.load_s });
        this.setState({ state: "ready", loadS: e.load_s, message: null, phase: null, progress: null, phases, device: e.device });
        this.log(`chat model loaded in ${e.load_s.toFixed(1)} s on ${e.device} (${e.mode ?? "eager"})`);
        break;
      }
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

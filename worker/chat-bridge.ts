// Connects the server's chat commands (socket.io) to the chat process, and the chat process's
// tokens back to the server. Commands are validated here too: the worker trusts no payload.
import type { Socket } from "socket.io-client";
import type { Env } from "@/lib/env";
import { resolveModelPath } from "@/lib/models";
import {
  apiChatReq,
  chatLoadReq,
  chatSendReq,
  chatStopReq,
  type ChatState,
  type ServerToWorkerEvents,
  type WorkerToServerEvents,
} from "@/lib/schemas/socket";
import type { ChatProcessEvent } from "@/lib/schemas/chat-process";
import type { TEMPLATES } from "@/lib/schemas/run-config";
import { ChatHost } from "./chat-host";
import fs from "node:fs";
import path from "node:path";

type Template = (typeof TEMPLATES)[number];

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
  /** What the chat process holds once the commands sent so far have run (null: nothing, or unknown after a failed load). */
  private target: { model: string; adapters: string[] } | null = null;
  /** The adapters the Chat page loaded: its requests use these, not ones the API added. */
  private pageAdapters: string[] = [];
  /** API requests sent to the chat process and not yet done: their events go to the API, not the Chat page. */
  private apiRequests = new Set<string>();

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
    socket.on("api:chat", (raw) => void this.apiChat(raw));
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
    this.pageAdapters = paths.adapters;
    await this.loadResolved(paths.model, paths.adapters, p.data.template);
  }

  /** Sends `load` for resolved paths; the chat process runs it after any request already sent. */
  private async loadResolved(model: string, adapters: string[], template: Template) {
    this.target = { model, adapters };
    this.setState({
      ...IDLE,
      state: "loading",
      modelPath: model,
      adapterPath: adapters[0] ?? null,
      adapterPaths: adapters,
      phase: "weights",
      progress: 0,
    });
    try {
      await this.host.send({ type: "load", model_path: model, adapter_paths: adapters, template });
    } catch (err) {
      this.target = null;
      this.setState({ state: "error", message: `could not start the chat process: ${(err as Error).message}` });
    }
  }

  /**
   * An API request: loads the base model and the adapters it needs unless the process already holds
   * them (keeping adapters loaded before, when the base is the same), then generates with exactly
   * the request's adapters on. The chat process answers requests one at a time, in arrival order.
   */
  private async apiChat(raw: unknown) {
    const p = apiChatReq.safeParse(raw);
    if (!p.success) return;
    const fail = (error: string) =>
      this.socket.emit("api:done", { requestId: p.data.requestId, tokens: 0, tokensPerSec: null, finishReason: "error", error });
    let paths: { model: string; adapters: string[] };
    try {
      paths = this.resolvePaths(p.data.modelPath, p.data.adapterPaths);
    } catch (err) {
      return fail((err as Error).message);
    }
    this.apiRequests.add(p.data.requestId);
    const held = this.target;
    if (!held || held.model !== paths.model || !paths.adapters.every((a) => held.adapters.includes(a))) {
      const sameBase = held?.model === paths.model;
      if (!sameBase) this.pageAdapters = [];
      const adapters = sameBase ? [...new Set([...held.adapters, ...paths.adapters])] : paths.adapters;
      await this.loadResolved(paths.model, adapters, p.data.template);
    }
    try {
      await this.host.send({
        type: "generate",
        request_id: p.data.requestId,
        messages: p.data.messages,
        ...p.data.params,
        use_adapters: true,
        adapter_paths: paths.adapters,
        template: p.data.template,
      });
    } catch (err) {
      this.apiRequests.delete(p.data.requestId);
      fail(`could not start the chat process: ${(err as Error).message}`);
    }
  }

  /** Ends every API request still waiting (the process that would answer it is gone). */
  private failApiRequests(error: string) {
    for (const requestId of this.apiRequests) {
      this.socket.emit("api:done", { requestId, tokens: 0, tokensPerSec: null, finishReason: "error", error });
    }
    this.apiRequests.clear();
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
      // Only the page's own adapters: the API may have loaded more for its requests.
      adapter_paths: p.data.useAdapters ? this.pageAdapters : [],
    });
  }

  private unload() {
    this.host.stop();
    this.target = null;
    this.pageAdapters = [];
    this.failApiRequests("the model was unloaded (Unload on the Chat page) before this request was answered");
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
        this.socket.emit(this.apiRequests.has(e.request_id) ? "api:token" : "chat:token", { requestId: e.request_id, text: e.text });
        break;
      case "done": {
        const api = this.apiRequests.delete(e.request_id);
        this.socket.emit(api ? "api:done" : "chat:done", {
          requestId: e.request_id,
          tokens: e.tokens,
          tokensPerSec: e.tokens_per_sec,
          finishReason: e.finish_reason,
          promptTokens: e.prompt_tokens,
        });
        break;
      }
      case "error":
        if (e.request_id) {
          const api = this.apiRequests.delete(e.request_id);
          this.socket.emit(api ? "api:done" : "chat:done", { requestId: e.request_id, tokens: 0, tokensPerSec: null, finishReason: "error", error: e.message });
        } else {
          // A failed load (or the process died): what it holds is unknown, so the next API request loads again.
          this.target = null;
          if (!this.host.running) this.failApiRequests(e.message);
          this.setState({ state: "error", message: e.message });
        }
        break;
      case "unloaded":
      case "ready":
        break;
    }
  }

  close() {
    this.failApiRequests("the worker is shutting down");
    this.host.stop();
  }
}

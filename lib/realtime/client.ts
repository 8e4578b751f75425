"use client";
// One socket per browser tab, shared by every component that needs live data.
import { io, type Socket } from "socket.io-client";
import type { ClientToServerEvents, ServerToClientEvents } from "@/lib/schemas/socket";

export type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

let socket: ClientSocket | null = null;

export function getSocket(): ClientSocket {
  if (!socket) {
    socket = io({ transports: ["websocket", "polling"], withCredentials: true });
    // Exposed always, not only in test builds: the e2e reconnect test drops and restores this
    // socket (window.__tuneboardSocket.disconnect()/.connect()). It is harmless: any script on
    // the page could open its own socket with the same cookie, so this grants nothing new, and
    // a test-only switch would mean the tested build differs from the shipped one.
    if (typeof window !== "undefined") (window as unknown as { __tuneboardSocket?: ClientSocket }).__tuneboardSocket = socket;
  }
  return socket;
}

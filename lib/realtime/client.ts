"use client";
// One socket per browser tab, shared by every component that needs live data.
import { io, type Socket } from "socket.io-client";
import type { ClientToServerEvents, ServerToClientEvents } from "@/lib/schemas/socket";

export type ClientSocket = Socket<ServerToClientEvents, ClientToServerEvents>;

let socket: ClientSocket | null = null;

export function getSocket(): ClientSocket {
  socket ??= io({ transports: ["websocket", "polling"], withCredentials: true });
  return socket;
}

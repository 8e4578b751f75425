import { io as connect } from "socket.io-client";
import { expect, it } from "vitest";
import { liveEmitter, type WorkerSocket } from "./live-emit";

it("buffers while disconnected, keeps only the newest events, never throws", () => {
  const socket = connect("http://127.0.0.1:9/worker", { autoConnect: false }) as WorkerSocket;
  const emit = liveEmitter(socket, 5);
  for (let step = 1; step <= 12; step++) emit("job:metric", { jobId: 1, point: { step } });
  expect(socket.sendBuffer).toHaveLength(5);
  expect(socket.sendBuffer.map((p) => (p.data as [string, { point: { step: number } }])[1].point.step)).toEqual([8, 9, 10, 11, 12]);
  expect(() => emit("job:log", { jobId: 1, text: "x" })).not.toThrow();
  socket.close();
});

"use client";
// The Run page's live state. The server renders the database snapshot; this hook joins the run's
// socket room, whose acknowledgement carries the history again, and merges every point by step.
// On each (re)connect it subscribes again and merges the fresh snapshot, and when the run ends it
// reads the snapshot once more: a dropped socket never leaves a gap.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { useRouter } from "next/navigation";
import { getSocket } from "@/lib/realtime/client";
import type { EvalPoint, JobSnapshot, JobStatusUpdate, MetricPoint } from "@/lib/schemas/socket";
import { isFinalStatus } from "@/lib/queue/types";
import { lastSpacing, leavesGap } from "@/lib/metrics/gaps";

const LOG_LIMIT = 20_000;

function mergePoints<P extends { step: number }>(into: Map<number, P>, points: P[]) {
  for (const p of points) into.set(p.step, p); // idempotent by step: replays never double a point
}

export function useRunLive(initial: JobSnapshot) {
  const router = useRouter();
  const jobId = initial.job.jobId;
  const [job, setJob] = useState<JobStatusUpdate>(initial.job);
  const pointsRef = useRef<Map<number, MetricPoint>>(null);
  const evalRef = useRef<Map<number, EvalPoint>>(null);
  pointsRef.current ??= new Map(initial.points.map((p) => [p.step, p]));
  evalRef.current ??= new Map(initial.evalPoints.map((e) => [e.step, e]));
  const [version, setVersion] = useState(0);
  const [log, setLog] = useState(initial.logTail);
  const [connected, setConnected] = useState(false);

  const applySnapshot = useCallback((snap: JobSnapshot) => {
    mergePoints(pointsRef.current!, snap.points);
    mergePoints(evalRef.current!, snap.evalPoints);
    setJob(snap.job);
    setLog(snap.logTail);
    setVersion((v) => v + 1);
  }, []);

  useEffect(() => {
    const socket = getSocket();
    const subscribe = () =>
      socket.emit("job:subscribe", { jobId }, (res) => {
        if (res.ok) applySnapshot(res.data);
      });
    const onConnect = () => {
      setConnected(true);
      subscribe(); // after a dropped connection, re-join the room and fill the gap from the database
    };
    const onDisconnect = () => setConnected(false);
    const onMetric = (m: { jobId: number; point: MetricPoint }) => {
      if (m.jobId !== jobId) return;
      const map = pointsRef.current!;
      const steps = [...map.keys()].sort((a, b) => a - b);
      // A live point beyond the next expected step means events were missed: read the history.
      const gap = !map.has(m.point.step) && leavesGap(steps.at(-1) ?? 0, lastSpacing(steps), m.point.step);
      mergePoints(map, [m.point]);
      setVersion((v) => v + 1);
      if (gap) subscribe();
    };
    const onEval = (m: { jobId: number; point: EvalPoint }) => {
      if (m.jobId !== jobId) return;
      mergePoints(evalRef.current!, [m.point]);
      setVersion((v) => v + 1);
    };
    const onStatus = (s: JobStatusUpdate) => {
      if (s.jobId !== jobId) return;
      setJob(s);
      // The worker writes every metric before the final state: this read has the whole history
      // (covers a point whose live event raced a reconnect).
      if (isFinalStatus(s.status)) {
        subscribe();
        router.refresh(); // the server part knows the newest checkpoint (Resume's note)
      }
    };
    const onLog = (l: { jobId: number; text: string }) => l.jobId === jobId && setLog((prev) => (prev + l.text).slice(-LOG_LIMIT));
    socket.on("connect", onConnect);
    socket.on("disconnect", onDisconnect);
    socket.on("job:metric", onMetric);
    socket.on("job:eval", onEval);
    socket.on("job:status", onStatus);
    socket.on("job:log", onLog);
    if (socket.connected) onConnect();
    return () => {
      socket.emit("job:unsubscribe", { jobId });
      socket.off("connect", onConnect);
      socket.off("disconnect", onDisconnect);
      socket.off("job:metric", onMetric);
      socket.off("job:eval", onEval);
      socket.off("job:status", onStatus);
      socket.off("job:log", onLog);
    };
  }, [jobId, applySnapshot, router]);

  // eslint-disable-next-line react-hooks/exhaustive-deps
  const points = useMemo(() => [...pointsRef.current!.values()].sort((a, b) => a.step - b.step), [version]);
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const evalPoints = useMemo(() => [...evalRef.current!.values()].sort((a, b) => a.step - b.step), [version]);
  return { job, setJob, points, evalPoints, log, connected };
}

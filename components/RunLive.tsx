"use client";
import { useEffect, useMemo, useRef, useState } from "react";
import { getSocket } from "@/lib/realtime/client";
import type { EvalPoint, JobSnapshot, JobStatusUpdate, MetricPoint } from "@/lib/schemas/socket";
import { LossChart } from "./LossChart";
import { ProgressBar } from "./ProgressBar";
import { StatusBadge } from "./StatusBadge";

const LOG_LIMIT = 20_000;

function mergePoints(into: Map<number, MetricPoint>, points: MetricPoint[]) {
  for (const p of points) into.set(p.step, p); // idempotent by step: replays never double a point
}

export function RunLive({ initial }: { initial: JobSnapshot }) {
  const jobId = initial.job.jobId;
  const [job, setJob] = useState<JobStatusUpdate>(initial.job);
  const pointsRef = useRef(new Map<number, MetricPoint>());
  const evalRef = useRef(new Map<number, EvalPoint>());
  const [version, setVersion] = useState(0);
  const [log, setLog] = useState(initial.logTail);
  const [connected, setConnected] = useState(false);
  const [abortError, setAbortError] = useState<string | null>(null);
  const logRef = useRef<HTMLPreElement>(null);

  if (pointsRef.current.size === 0 && initial.points.length > 0) mergePoints(pointsRef.current, initial.points);
  if (evalRef.current.size === 0) for (const e of initial.evalPoints) evalRef.current.set(e.step, e);

  useEffect(() => {
    const socket = getSocket();
    const subscribe = () =>
      socket.emit("job:subscribe", { jobId }, (res) => {
        if (!res.ok) return;
        mergePoints(pointsRef.current, res.data.points);
        for (const e of res.data.evalPoints) evalRef.current.set(e.step, e);
        setJob(res.data.job);
        setLog(res.data.logTail);
        setVersion((v) => v + 1);
      });
    const onConnect = () => {
      setConnected(true);
      subscribe(); // after a dropped connection, re-subscribe and fill the gap from the database
    };
    const onDisconnect = () => setConnected(false);
    const onMetric = (m: { jobId: number; point: MetricPoint }) => {
      if (m.jobId !== jobId) return;
      mergePoints(pointsRef.current, [m.point]);
      setVersion((v) => v + 1);
    };
    const onEval = (m: { jobId: number; point: EvalPoint }) => {
      if (m.jobId !== jobId) return;
      evalRef.current.set(m.point.step, m.point);
      setVersion((v) => v + 1);
    };
    const onStatus = (s: JobStatusUpdate) => s.jobId === jobId && setJob(s);
    const onLog = (l: { jobId: number; text: string }) =>
      l.jobId === jobId && setLog((prev) => (prev + l.text).slice(-LOG_LIMIT));
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
  }, [jobId]);

  useEffect(() => {
    const el = logRef.current;
    if (el) el.scrollTop = el.scrollHeight;
  }, [log]);

  // eslint-disable-next-line react-hooks/exhaustive-deps
  const points = useMemo(() => [...pointsRef.current.values()].sort((a, b) => a.step - b.step), [version]);
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const evalPoints = useMemo(() => [...evalRef.current.values()].sort((a, b) => a.step - b.step), [version]);
  const last = points.at(-1);
  const running = job.status === "running" || job.status === "queued";
  const step = Math.max(job.step, last?.step ?? 0);

  async function abort() {
    setAbortError(null);
    const res = await fetch(`/api/jobs/${jobId}/cancel`, { method: "POST" });
    if (!res.ok) setAbortError(((await res.json().catch(() => ({}))) as { error?: string }).error ?? `HTTP ${res.status}`);
  }

  return (
    <div className="space-y-4">
      <div className="card space-y-3">
        <div className="flex items-center justify-between">
          <div className="flex items-center gap-3">
            <StatusBadge status={job.status} />
            {job.cancelRequested && job.status === "running" && <span className="text-sm text-amber-700">stopping…</span>}
            <span className={`text-xs ${connected ? "text-emerald-700" : "text-slate-400"}`}>{connected ? "● live" : "○ offline"}</span>
          </div>
          {running && (
            <button className="btn btn-danger" onClick={abort} disabled={job.cancelRequested}>
              Abort
            </button>
          )}
        </div>
        {abortError && <p className="field-error">{abortError}</p>}
        <ProgressBar step={step} total={job.totalSteps} elapsedS={last?.elapsedS ?? null} />
        <dl className="grid grid-cols-2 gap-2 text-sm sm:grid-cols-5">
          <div><dt className="text-slate-500">Loss</dt><dd data-testid="last-loss">{last?.loss?.toFixed(4) ?? "—"}</dd></div>
          <div><dt className="text-slate-500">Epoch</dt><dd>{last ? last.epoch.toFixed(2) : "—"}</dd></div>
          <div><dt className="text-slate-500">Learning rate</dt><dd>{last ? last.lr.toExponential(2) : "—"}</dd></div>
          <div><dt className="text-slate-500">Eval loss</dt><dd data-testid="last-eval-loss">{evalPoints.at(-1)?.evalLoss.toFixed(4) ?? "—"}</dd></div>
          <div><dt className="text-slate-500">Tokens/s</dt><dd>{last?.tokensPerSec ? Math.round(last.tokensPerSec).toLocaleString() : "—"}</dd></div>
        </dl>
        {job.status === "failed" && job.error && (
          <div role="alert" className="rounded-md bg-red-50 p-3 text-sm text-red-800" data-testid="run-error">
            <strong>Training failed:</strong> <span className="whitespace-pre-wrap">{job.error}</span>
          </div>
        )}
      </div>
      <div className="card">
        <h2 className="mb-2 font-semibold">Loss</h2>
        <LossChart points={points} evalPoints={evalPoints} />
      </div>
      <div className="card">
        <h2 className="mb-2 font-semibold">Trainer log</h2>
        <pre ref={logRef} className="h-64 overflow-auto rounded bg-slate-900 p-3 font-mono text-xs text-slate-100" data-testid="run-log">
          {log || "No output yet."}
        </pre>
      </div>
    </div>
  );
}

"use client";
// The live part of the Run page. The server renders the database snapshot; this component joins
// the run's socket room, whose acknowledgement carries the history again, and merges every
// point by step. On each (re)connect it subscribes again and merges the fresh snapshot, and when
// the run ends it reads the snapshot once more: a dropped socket never leaves a gap.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { useRouter } from "next/navigation";
import { getSocket } from "@/lib/realtime/client";
import type { EvalPoint, JobSnapshot, JobStatusUpdate, MetricPoint } from "@/lib/schemas/socket";
import { isFinalStatus } from "@/lib/queue/types";
import { lastSpacing, leavesGap } from "@/lib/metrics/gaps";
import { useLocale, useT } from "@/lib/i18n/client";
import { HTML_LANG } from "@/lib/i18n/locales";
import { LossChart } from "./LossChart";
import { ProgressBar } from "./ProgressBar";
import { StatusBadge } from "./StatusBadge";
import { MetricChart } from "./runs/MetricChart";
import { LossHealthPanel } from "./runs/LossHealthPanel";
import { LogViewer } from "./runs/LogViewer";
import { RunActions } from "./runs/RunActions";

const LOG_LIMIT = 20_000;

function mergePoints<P extends { step: number }>(into: Map<number, P>, points: P[]) {
  for (const p of points) into.set(p.step, p); // idempotent by step: replays never double a point
}

export function RunLive({ initial, checkpoint }: { initial: JobSnapshot; checkpoint: string | null }) {
  const t = useT();
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
  const last = points.at(-1);
  const step = Math.max(job.step, last?.step ?? 0);
  const finished = isFinalStatus(job.status);
  const gpuMem = last?.gpuMemGib;
  const none = t("common.none");
  // The UI's locale, not the machine's: server and browser render the same digits.
  const lang = HTML_LANG[useLocale()];

  return (
    <div className="space-y-4">
      <div className="card space-y-3">
        <div className="flex flex-wrap items-center justify-between gap-2">
          <div className="flex items-center gap-3">
            <StatusBadge status={job.status} />
            {job.cancelRequested && job.status === "running" && <span className="text-sm text-amber-800">{t("runs.run.stopping")}</span>}
            <span className={`text-xs ${connected ? "text-emerald-700" : "text-slate-500"}`} data-testid="socket-state" data-connected={connected}>
              {connected ? t("runs.run.live") : t("runs.run.offline")}
            </span>
          </div>
          <RunActions jobId={jobId} job={job} checkpoint={checkpoint} onStatus={setJob} />
        </div>
        <ProgressBar step={step} total={job.totalSteps} elapsedS={last?.elapsedS ?? null} epoch={last?.epoch ?? null} />
        <dl className="grid grid-cols-2 gap-2 text-sm sm:grid-cols-6">
          <div><dt className="text-slate-500">{t("runs.run.stat.loss")}</dt><dd data-testid="last-loss">{last?.loss?.toFixed(4) ?? none}</dd></div>
          <div><dt className="text-slate-500">{t("runs.run.stat.epoch")}</dt><dd>{last ? last.epoch.toFixed(2) : none}</dd></div>
          <div><dt className="text-slate-500">{t("runs.run.stat.lr")}</dt><dd>{last ? last.lr.toExponential(2) : none}</dd></div>
          <div><dt className="text-slate-500">{t("runs.run.stat.evalLoss")}</dt><dd data-testid="last-eval-loss">{evalPoints.at(-1)?.evalLoss.toFixed(4) ?? none}</dd></div>
          <div><dt className="text-slate-500">{t("runs.run.stat.tokensPerSec")}</dt><dd>{last?.tokensPerSec ? Math.round(last.tokensPerSec).toLocaleString(lang) : none}</dd></div>
          <div><dt className="text-slate-500">{t("runs.run.stat.gpuMem")}</dt><dd data-testid="last-gpu-mem">{gpuMem != null ? `${gpuMem.toFixed(2)} GiB` : none}</dd></div>
        </dl>
        {job.status === "failed" && job.error && (
          <div role="alert" className="rounded-md bg-red-50 p-3 text-sm text-red-800" data-testid="run-error">
            <strong>{t("runs.run.failed")}</strong> <span className="whitespace-pre-wrap">{job.error}</span>
          </div>
        )}
      </div>
      {/* The curve and what it says, side by side where there is room. */}
      <div className="grid grid-cols-1 gap-4 lg:grid-cols-3">
        <div className="card min-w-0 lg:col-span-2">
          <h2 className="mb-2 font-semibold">{t("runs.run.lossTitle")}</h2>
          <LossChart points={points} evalPoints={evalPoints} />
        </div>
        <div className="card">
          <LossHealthPanel points={points} evalPoints={evalPoints} finished={finished} />
        </div>
      </div>
      <div className="card">
        <h2 className="mb-2 font-semibold">{t("runs.run.metricsTitle")}</h2>
        <div className="grid grid-cols-1 gap-4 sm:grid-cols-2">
          <MetricChart testId="chart-lr" title={t("runs.chart.lr")} points={points} value={(p) => p.lr} color="#0891b2" emptyNote={t("runs.chart.noData")} format={(v) => v.toExponential(1)} />
          <MetricChart testId="chart-grad-norm" title={t("runs.chart.gradNorm")} points={points} value={(p) => p.gradNorm} color="#7c3aed" emptyNote={t("runs.chart.noData")} />
          <MetricChart testId="chart-tokens" title={t("runs.chart.tokensPerSec")} points={points} value={(p) => p.tokensPerSec} color="#059669" emptyNote={t("runs.chart.noData")} format={(v) => Math.round(v).toLocaleString(lang)} />
          <MetricChart testId="chart-gpu-mem" title={t("runs.chart.gpuMem")} points={points} value={(p) => p.gpuMemGib} color="#ea580c" emptyNote={t("runs.chart.noGpu")} />
        </div>
      </div>
      <div className="card">
        <LogViewer text={log} />
      </div>
    </div>
  );
}

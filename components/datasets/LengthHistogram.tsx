"use client";
// Token lengths of every record as a histogram, with the cutoff length as a dashed line: records
// to its right are truncated in training. Plain SVG: 30 bars need no charting library.
import { useT } from "@/lib/i18n/client";

const W = 640;
const H = 180;
const PAD = { left: 36, right: 12, top: 12, bottom: 28 };
const BINS = 30;

export function LengthHistogram({ lengths, cutoff }: { lengths: number[]; cutoff: number }) {
  const t = useT();
  const maxLen = Math.max(1, ...lengths);
  // The axis reaches the cutoff even when every record is shorter, so the line is always drawn
  // (and how far below it the data sits is visible).
  const top = Math.max(maxLen, cutoff) * 1.05;
  const width = top / BINS;
  const counts = new Array<number>(BINS).fill(0);
  for (const n of lengths) counts[Math.min(BINS - 1, Math.floor(n / width))]! += 1;
  const maxCount = Math.max(1, ...counts);
  const x = (v: number) => PAD.left + (v / top) * (W - PAD.left - PAD.right);
  const y = (c: number) => H - PAD.bottom - (c / maxCount) * (H - PAD.top - PAD.bottom);
  const over = lengths.filter((n) => n > cutoff).length;
  const cx = x(cutoff);

  return (
    <figure className="space-y-1">
      <svg
        viewBox={`0 0 ${W} ${H}`}
        className="w-full max-w-2xl"
        role="img"
        aria-label={t("datasets.tokens.histLabel", { n: lengths.length, over, cutoff })}
        data-testid="length-histogram"
        data-over={over}
      >
        <line x1={PAD.left} y1={H - PAD.bottom} x2={W - PAD.right} y2={H - PAD.bottom} stroke="#94a3b8" />
        {counts.map((c, i) =>
          c === 0 ? null : (
            <rect key={i} x={x(i * width) + 0.5} y={y(c)} width={Math.max(1, x(width) - x(0) - 1)} height={H - PAD.bottom - y(c)} fill={(i + 1) * width > cutoff ? "#f59e0b" : "#6366f1"}>
              <title>{t("datasets.tokens.binTitle", { from: Math.round(i * width), to: Math.round((i + 1) * width), n: c })}</title>
            </rect>
          ),
        )}
        <line x1={cx} y1={PAD.top - 4} x2={cx} y2={H - PAD.bottom} stroke="#dc2626" strokeDasharray="4 3" strokeWidth={2} data-testid="cutoff-line" />
        <text x={Math.min(cx + 4, W - 110)} y={PAD.top + 8} fontSize="11" fill="#b91c1c">
          {t("datasets.tokens.cutoffMark", { cutoff })}
        </text>
        <text x={PAD.left} y={H - 8} fontSize="11" fill="#64748b">0</text>
        <text x={W - PAD.right} y={H - 8} fontSize="11" fill="#64748b" textAnchor="end">
          {Math.round(top)} {t("datasets.tokens.tokensUnit")}
        </text>
        <text x={PAD.left - 4} y={PAD.top + 8} fontSize="11" fill="#64748b" textAnchor="end">{maxCount}</text>
      </svg>
      <figcaption className="text-sm text-slate-600" data-testid="over-cutoff">
        {t("datasets.tokens.overCutoff", { over, n: lengths.length, cutoff, max: maxLen })}
      </figcaption>
    </figure>
  );
}

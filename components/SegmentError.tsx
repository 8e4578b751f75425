"use client";

export function SegmentError({ error, reset, what }: { error: Error & { digest?: string }; reset: () => void; what: string }) {
  return (
    <div role="alert" className="card border-red-200 bg-red-50">
      <h2 className="font-semibold text-red-800">Could not load {what}</h2>
      <p className="mt-1 text-sm text-red-700">{error.message || "Unexpected error"}</p>
      <button className="btn btn-secondary mt-3" onClick={reset}>
        Try again
      </button>
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return (
    <div className="animate-pulse text-sm text-slate-500" aria-busy="true">
      Loading {what}…
    </div>
  );
}

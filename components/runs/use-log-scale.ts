"use client";
// Whether the loss charts (Run page, Compare) use a log scale: one choice per browser, kept in
// localStorage, shared by every chart on the page and by other tabs (the storage event).
// The server renders the linear axis; the stored choice applies right after hydration.
import { useCallback, useSyncExternalStore } from "react";

const KEY = "tuneboard.lossChart.logScale";
const listeners = new Set<() => void>();
// Where localStorage is unavailable (blocked storage), the choice lasts for the page's lifetime.
let memory: boolean | null = null;

function read(): boolean {
  if (memory !== null) return memory;
  try {
    return window.localStorage.getItem(KEY) === "1";
  } catch {
    return false;
  }
}

function subscribe(onChange: () => void): () => void {
  const onStorage = (e: StorageEvent) => {
    if (e.key !== KEY) return;
    memory = null;
    onChange();
  };
  listeners.add(onChange);
  window.addEventListener("storage", onStorage);
  return () => {
    listeners.delete(onChange);
    window.removeEventListener("storage", onStorage);
  };
}

export function useLogScale(): [boolean, (on: boolean) => void] {
  const on = useSyncExternalStore(subscribe, read, () => false);
  const set = useCallback((value: boolean) => {
    memory = value;
    try {
      window.localStorage.setItem(KEY, value ? "1" : "0");
    } catch {
      // kept in memory only
    }
    for (const l of listeners) l();
  }, []);
  return [on, set];
}

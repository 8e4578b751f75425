"use client";
// The conversation, settings and compare toggle, kept in localStorage (store.ts says why): restored
// after mount (localStorage does not exist during server rendering), saved on every change; answers
// that were streaming when the page went away are marked interrupted and stopped on the worker.
import { useEffect, useState } from "react";
import { getSocket } from "@/lib/realtime/client";
import { DEFAULT_SETTINGS, interrupted, loadSaved, save, type SettingsForm, type Turn } from "./store";

export function useSavedChat() {
  const [turns, setTurns] = useState<Turn[]>([]);
  const [settings, setSettings] = useState<SettingsForm>(DEFAULT_SETTINGS);
  const [compare, setCompare] = useState(false);
  const [restored, setRestored] = useState(false);

  useEffect(() => {
    const s = loadSaved(window.localStorage);
    if (s) {
      const fixed = interrupted(s.turns);
      setTurns(fixed.turns);
      setSettings(s.settings);
      setCompare(s.compare);
      for (const requestId of fixed.requestIds) getSocket().emit("chat:stop", { requestId });
    }
    setRestored(true);
  }, []);
  useEffect(() => {
    if (restored) save(window.localStorage, { turns, settings, compare });
  }, [restored, turns, settings, compare]);

  return { turns, setTurns, settings, setSettings, compare, setCompare };
}

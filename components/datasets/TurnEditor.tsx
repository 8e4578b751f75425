"use client";
// A conversation record turn by turn: each turn a role select (the roles the dataset's tags
// define) and a text area, with move up/down, delete and add; the system column, when the entry
// maps one, as its own field. The rule of lib/datasets/turns.ts is checked here before sending
// (the server checks it again) and every problem is shown at its turn. Inputs are controlled, so
// a refused save keeps what the user typed.
import { useEffect, useMemo, useRef, useState } from "react";
import { useT } from "@/lib/i18n/client";
import { availableRoles, turnIssuesOf, turnsDocSchema, type ConversationLayout, type Turn, type TurnIssue, type TurnRole, type TurnsDoc } from "@/lib/datasets/turns";
import { EditorActions } from "./EditorActions";
import type { EditorError } from "./RecordEditor";

type Row = Turn & { key: number };

const PROMPTS: readonly TurnRole[] = ["user", "observation"];

function TurnItem(props: {
  row: Row;
  i: number;
  count: number;
  messages: string[];
  offered: TurnRole[];
  layout: ConversationLayout;
  id: (what: string) => string;
  onUpdate: (patch: Partial<Turn>) => void;
  onMove: (to: number) => void;
  onDelete: () => void;
}) {
  const t = useT();
  const { row, i, messages, id } = props;
  const n = i + 1;
  const errorId = id(`turn-${row.key}-error`);
  const roleName = (r: TurnRole) => t(`datasets.turns.role.${r}`);
  return (
    <li
      className={`rounded-md border p-2 ${messages.length > 0 ? "border-red-400 bg-red-50/40" : "border-slate-200"}`}
      data-testid={`turn-${i}`}
      data-role={row.role}
    >
      <div className="flex flex-wrap items-end gap-2">
        <span className="text-xs font-semibold text-slate-600">{t("datasets.turns.turn", { n })}</span>
        <div>
          <label className="sr-only" htmlFor={id(`turn-${row.key}-role`)}>
            {t("datasets.turns.roleLabel", { n })}
          </label>
          <select
            id={id(`turn-${row.key}-role`)}
            className="field-input py-1"
            value={row.role}
            aria-invalid={messages.length > 0}
            aria-describedby={messages.length > 0 ? errorId : undefined}
            onChange={(e) => props.onUpdate({ role: e.target.value as TurnRole })}
          >
            {props.offered.map((r) => (
              <option key={r} value={r}>
                {t("datasets.turns.roleOption", { role: roleName(r), tag: props.layout.tags[r] ?? r })}
              </option>
            ))}
          </select>
        </div>
        <div className="ml-auto flex gap-1">
          <button type="button" className="btn btn-secondary px-2 py-1 text-xs" aria-label={t("datasets.turns.upLabel", { n })} disabled={i === 0} onClick={() => props.onMove(i - 1)}>
            {t("datasets.turns.up")}
          </button>
          <button
            type="button"
            className="btn btn-secondary px-2 py-1 text-xs"
            aria-label={t("datasets.turns.downLabel", { n })}
            disabled={i === props.count - 1}
            onClick={() => props.onMove(i + 1)}
          >
            {t("datasets.turns.down")}
          </button>
          <button type="button" className="btn btn-secondary px-2 py-1 text-xs" aria-label={t("datasets.turns.deleteLabel", { n })} onClick={props.onDelete}>
            {t("datasets.turns.delete")}
          </button>
        </div>
      </div>
      <label className="sr-only" htmlFor={id(`turn-${row.key}-text`)}>
        {t("datasets.turns.textLabel", { n })}
      </label>
      <textarea
        id={id(`turn-${row.key}-text`)}
        className={`field-input mt-1 ${row.role === "function" ? "font-mono text-xs" : ""}`}
        rows={Math.min(8, Math.max(2, Math.ceil(row.content.length / 90)))}
        value={row.content}
        aria-invalid={messages.length > 0}
        aria-describedby={messages.length > 0 ? errorId : undefined}
        onChange={(e) => props.onUpdate({ content: e.target.value })}
      />
      {messages.length > 0 && (
        <p className="field-error" role="alert" id={errorId} data-testid={`turn-error-${i}`}>
          {messages.join(" ")}
        </p>
      )}
    </li>
  );
}

/** The entry's system column, edited apart from the turns. */
function SystemField(props: { id: string; column: string; value: string; onChange: (v: string) => void; error: string | null }) {
  const t = useT();
  return (
    <div>
      <label className="field-label" htmlFor={props.id}>
        {t("datasets.turns.system")}
        <span className="ml-2 text-xs font-normal text-slate-500">{t("datasets.turns.systemColumn", { column: props.column })}</span>
      </label>
      <textarea id={props.id} className="field-input" rows={2} value={props.value} aria-invalid={props.error !== null} onChange={(e) => props.onChange(e.target.value)} />
      {props.error !== null && (
        <p className="field-error" role="alert">
          {props.error}
        </p>
      )}
    </div>
  );
}

/** Add a turn (what the rule expects next), a user/assistant pair, or a system turn at the top. */
function AddTurnButtons(props: { onAddNext: () => void; onAddPair: () => void; onAddSystem: (() => void) | null }) {
  const t = useT();
  return (
    <div className="flex flex-wrap gap-2">
      <button type="button" className="btn btn-secondary" onClick={props.onAddNext}>
        {t("datasets.turns.addTurn")}
      </button>
      <button type="button" className="btn btn-secondary" onClick={props.onAddPair}>
        {t("datasets.turns.addPair")}
      </button>
      {props.onAddSystem && (
        <button type="button" className="btn btn-secondary" onClick={props.onAddSystem}>
          {t("datasets.turns.addSystem")}
        </button>
      )}
    </div>
  );
}

/** The record-level refusal, and the note that some turns need fixing. */
function FormNotes({ recordError, mustFix }: { recordError: string | null; mustFix: boolean }) {
  const t = useT();
  return (
    <>
      {recordError && (
        <p className="field-error" role="alert" data-testid="error-record">
          {recordError}
        </p>
      )}
      {mustFix && (
        <p className="field-error" role="alert" data-testid="turns-fix">
          {t("datasets.turns.fix")}
        </p>
      )}
    </>
  );
}

/**
 * Where each problem is shown: the rule's issues (once the user tried to save) and the server's
 * refusal at their turn (null: the list), anything else at the record.
 */
function turnMessages(t: ReturnType<typeof useT>, from: { error: EditorError | null; layout: ConversationLayout; issues: TurnIssue[] }) {
  const { error, layout, issues } = from;
  const serverTurn = error && /^turns\.\d+$/.test(error.field) ? Number(error.field.slice(6)) : null;
  const listError = error?.field === "turns" ? error.message : null;
  const recordError = error && serverTurn === null && listError === null && error.field !== layout.systemColumn ? error.message : null;
  const roleName = (r: TurnRole) => t(`datasets.turns.role.${r}`);
  const issueText = (i: TurnIssue) =>
    t(`datasets.turns.issue.${i.code}`, {
      role: i.role ? roleName(i.role) : "",
      expected: (i.expected ?? []).map(roleName).join(t("datasets.turns.or")),
    });
  const messagesAt = (turn: number | null): string[] => [
    ...issues.filter((i) => i.turn === turn).map(issueText),
    ...(turn !== null && serverTurn === turn && error ? [error.message] : []),
    ...(turn === null && listError ? [listError] : []),
  ];
  return { messagesAt, recordError };
}

export function TurnEditor(props: {
  index: number;
  layout: ConversationLayout;
  doc: TurnsDoc;
  title: string;
  saving: boolean;
  /** The server's refusal: field "turns.<i>" marks turn i, "turns" the list, anything else the record. */
  error: EditorError | null;
  onSave: (doc: TurnsDoc) => void;
  onCancel: () => void;
  onJson: () => void;
}) {
  const t = useT();
  const { layout, error } = props;
  const nextKey = useRef(props.doc.turns.length);
  const [rows, setRows] = useState<Row[]>(() => props.doc.turns.map((turn, key) => ({ ...turn, key })));
  const [system, setSystem] = useState(props.doc.system);
  const [tried, setTried] = useState(false);
  const [focus, setFocus] = useState<string | null>(null);
  const roles = availableRoles(layout);
  const id = (what: string) => `rec-${props.index}-${what}`;

  const doc: TurnsDoc = useMemo(() => ({ system, turns: rows.map(({ key: _key, ...turn }) => turn) }), [rows, system]);
  // Checked live once the user has tried to save, so a fixed turn clears as it is fixed.
  const issues: TurnIssue[] = useMemo(() => {
    const r = turnsDocSchema(layout).safeParse(doc);
    return r.success ? [] : turnIssuesOf(r.error);
  }, [doc, layout]);

  useEffect(() => {
    if (focus === null) return;
    document.getElementById(focus)?.focus();
    setFocus(null);
  }, [focus]);

  const { messagesAt, recordError } = turnMessages(t, { error, layout, issues: tried ? issues : [] });

  const fresh = (role: TurnRole): Row => ({ role, content: "", source: null, key: nextKey.current++ });
  const update = (key: number, patch: Partial<Turn>) => setRows((rs) => rs.map((r) => (r.key === key ? { ...r, ...patch } : r)));
  const move = (from: number, to: number) =>
    setRows((rs) => {
      const out = [...rs];
      const [row] = out.splice(from, 1);
      out.splice(to, 0, row!);
      return out;
    });
  const append = (...added: Row[]) => {
    setRows((rs) => [...rs, ...added]);
    setFocus(id(`turn-${added[0]!.key}-text`));
  };
  // "Add turn" adds what the rule expects next: a reply after a prompt, otherwise a user turn.
  const last = rows[rows.length - 1];
  const nextRole: TurnRole = last !== undefined && PROMPTS.includes(last.role) ? "assistant" : "user";

  const listMessages = messagesAt(null);
  return (
    <form
      className="space-y-3"
      data-testid="turn-editor"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        setTried(true);
        if (issues.length > 0) {
          const first = issues[0]!;
          const row = first.turn === null ? undefined : rows[first.turn];
          if (row) setFocus(id(`turn-${row.key}-${first.code === "empty" || first.code === "function_json" ? "text" : "role"}`));
          return;
        }
        props.onSave(doc);
      }}
    >
      <h3 className="text-sm font-semibold">{props.title}</h3>
      <p className="text-xs text-slate-600">{t("datasets.turns.rule")}</p>
      {layout.systemColumn !== null && system !== null && (
        <SystemField id={id("system")} column={layout.systemColumn} value={system} onChange={setSystem} error={error?.field === layout.systemColumn ? error.message : null} />
      )}
      <ol className="space-y-2" aria-label={t("datasets.turns.list")}>
        {rows.map((row, i) => (
          <TurnItem
            key={row.key}
            row={row}
            i={i}
            count={rows.length}
            messages={messagesAt(i)}
            // System is offered only at the top (LLaMA-Factory reads it from the first message
            // only), and kept in the list of a turn that already is one so its value shows.
            offered={roles.filter((r) => r !== "system" || i === 0 || row.role === "system")}
            layout={layout}
            id={id}
            onUpdate={(patch) => update(row.key, patch)}
            onMove={(to) => move(i, to)}
            onDelete={() => setRows((rs) => rs.filter((r) => r.key !== row.key))}
          />
        ))}
      </ol>
      {listMessages.length > 0 && (
        <p className="field-error" role="alert" data-testid="turn-error-list">
          {listMessages.join(" ")}
        </p>
      )}
      <AddTurnButtons
        onAddNext={() => append(fresh(nextRole))}
        onAddPair={() => append(fresh("user"), fresh("assistant"))}
        onAddSystem={
          layout.tags.system !== null && rows[0]?.role !== "system"
            ? () => {
                const row = fresh("system");
                setRows((rs) => [row, ...rs]);
                setFocus(id(`turn-${row.key}-text`));
              }
            : null
        }
      />
      <FormNotes recordError={recordError} mustFix={tried && issues.length > 0} />
      <EditorActions saving={props.saving} onCancel={props.onCancel} switchLabel={t("datasets.turns.asJson")} onSwitch={props.onJson} />
    </form>
  );
}

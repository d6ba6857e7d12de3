import { useEffect, useState } from 'react';
import { ApiError, api, type ConnectionTools } from '../api';

export interface ToolAllowEditorProps {
  connectionId: string;
  /** api-keys:revoke on an active connection; otherwise the list is shown read-only. */
  canEdit: boolean;
  onSaved?: () => void;
}

/**
 * SPEC §12 tools per connection, in the detail dialog: "All tools its role may
 * use", or a tick per tool. Saved with PUT /api/mcp-connections/{id}/tools; in
 * force from the connection's next request.
 */
export function ToolAllowEditor({ connectionId, canEdit, onSaved }: ToolAllowEditorProps) {
  const [tools, setTools] = useState<ConnectionTools | null>(null);
  const [all, setAll] = useState(true);
  const [chosen, setChosen] = useState<Set<string>>(new Set());
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState(false);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    let live = true;
    api
      .connectionTools(connectionId)
      .then((t) => {
        if (!live) return;
        setTools(t);
        setAll(t.allow === null);
        setChosen(new Set(t.allow ?? t.available));
      })
      .catch((err: unknown) => {
        if (live) setError(err instanceof ApiError ? err.message : 'Something went wrong.');
      });
    return () => {
      live = false;
    };
  }, [connectionId]);

  // Names still on the list that the role no longer offers are shown too, so saving does not drop them unseen.
  const names = tools
    ? [...tools.available, ...(tools.allow ?? []).filter((n) => !tools.available.includes(n))]
    : [];
  const readOnly = !canEdit || busy;
  const toggle = (name: string, on: boolean) => {
    setSaved(false);
    setChosen((prev) => {
      const next = new Set(prev);
      if (on) next.add(name);
      else next.delete(name);
      return next;
    });
  };
  const save = async () => {
    setBusy(true);
    setError(null);
    try {
      const allow = all ? null : names.filter((n) => chosen.has(n));
      const result = await api.setConnectionTools(connectionId, allow);
      setTools((t) => (t ? { ...t, allow: result.allow } : t));
      setSaved(true);
      onSaved?.();
    } catch (err) {
      setError(err instanceof ApiError ? err.message : 'Something went wrong.');
    } finally {
      setBusy(false);
    }
  };

  return (
    <section className="tool-allow" aria-labelledby="tool-allow-heading">
      <h3 id="tool-allow-heading" className="help-heading">
        Tools
      </h3>
      {error ? (
        <p role="alert" className="alert">
          Could not {tools ? 'save the tools' : 'load the tools'}: {error}
        </p>
      ) : null}
      {tools === null ? (
        error ? null : (
          <p className="muted">Loading tools…</p>
        )
      ) : (
        <fieldset className="tool-allow-list" disabled={readOnly}>
          <legend className="sr-only">Tools this connection may use</legend>
          <label className="tool-allow-all">
            <input
              type="checkbox"
              checked={all}
              onChange={(e) => {
                setSaved(false);
                setAll(e.target.checked);
              }}
            />
            All tools its role may use
          </label>
          {names.length === 0 ? (
            <p className="muted">Its role may use no tools.</p>
          ) : (
            <ul>
              {names.map((name) => (
                <li key={name}>
                  <label>
                    <input
                      type="checkbox"
                      name="tool"
                      value={name}
                      checked={all || chosen.has(name)}
                      disabled={all}
                      onChange={(e) => toggle(name, e.target.checked)}
                    />
                    <code>{name}</code>
                  </label>
                </li>
              ))}
            </ul>
          )}
        </fieldset>
      )}
      {tools && canEdit ? (
        <div className="tool-allow-actions">
          <button type="button" onClick={() => void save()} disabled={busy}>
            {busy ? 'Saving…' : 'Save tools'}
          </button>
          {saved ? (
            <span role="status" className="muted">
              Saved. In force from the connection’s next request.
            </span>
          ) : null}
        </div>
      ) : tools ? (
        <p className="muted">Only users who may revoke connections can change its tools.</p>
      ) : null}
    </section>
  );
}

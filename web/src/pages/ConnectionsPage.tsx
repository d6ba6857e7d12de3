import { Plug } from 'lucide-react';
import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError, api, type Connection, type ConnectionPage, type Me, PERMISSION } from '../api';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { ConnectionDetails } from '../components/ConnectionDetails';
import { type Action, ConnectionsTable, rowId } from '../components/ConnectionsTable';
import { Breadcrumb } from '../components/Layout';
import { Notices, useNotices } from '../components/Notices';
import { Pagination } from '../components/Pagination';
import { PermissionDenied } from '../components/PermissionDenied';
import { type StatusFilter, Toolbar } from '../components/Toolbar';
import { UpstreamsStatus } from '../components/UpstreamsStatus';
import { count } from '../format';

const PAGE_SIZE = 25;
const SEARCH_DELAY_MS = 250;

/** SPEC §6 confirmation texts, word for word. */
export const CONFIRM: Record<Action, { title: string; message: string; verb: string }> = {
  revoke: {
    title: 'Revoke connection',
    message:
      'Revoke this MCP connection? The associated API key will be deactivated and the client will need to re-authorize.',
    verb: 'revoke the connection',
  },
  regenerate: {
    title: 'Regenerate API key',
    message: 'Regenerate the API key for this connection? The old key will be deactivated immediately.',
    verb: 'regenerate the API key',
  },
};

const sentence = (text: string) => (/[.!?]$/.test(text) ? text : `${text}.`);

function useNow(): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), 30_000);
    return () => window.clearInterval(timer);
  }, []);
  return now;
}

/** Settings › MCP: every connection, its key and its state; revoke and regenerate for those allowed. */
export function ConnectionsPage({ me }: { me: Me }) {
  const canRead = me.permissions.includes(PERMISSION.MCP_CONNECTIONS_READ);
  const canAct = me.permissions.includes(PERMISSION.MCP_CONNECTIONS_REVOKE);
  const [status, setStatus] = useState<StatusFilter>('all');
  const [query, setQuery] = useState('');
  const [search, setSearch] = useState('');
  const [cursors, setCursors] = useState<(string | undefined)[]>([undefined]);
  const [data, setData] = useState<ConnectionPage | null>(null);
  const [loading, setLoading] = useState(true);
  const [loadError, setLoadError] = useState<ApiError | null>(null);
  const [pending, setPending] = useState<{ action: Action; connection: Connection } | null>(null);
  const [busy, setBusy] = useState(false);
  const [revokeAll, setRevokeAll] = useState<{ email: string; n: number } | null>(null);
  const [detailsId, setDetailsId] = useState<string | null>(null);
  const notices = useNotices();
  const now = useNow();
  const request = useRef(0);
  const cursor = cursors[cursors.length - 1];

  useEffect(() => {
    document.title = 'MCP Connections · Waxseal';
  }, []);

  // A new filter starts again at the first page.
  useEffect(() => {
    const next = query.trim();
    if (next === search) return;
    const timer = window.setTimeout(() => {
      setSearch(next);
      setCursors([undefined]);
    }, SEARCH_DELAY_MS);
    return () => window.clearTimeout(timer);
  }, [query, search]);
  const filterStatus = (next: StatusFilter) => {
    setStatus(next);
    setCursors([undefined]);
  };

  const load = useCallback(async () => {
    const mine = ++request.current;
    setLoading(true);
    try {
      const page = await api.listConnections({
        status: status === 'all' ? undefined : status,
        q: search,
        cursor,
        limit: PAGE_SIZE,
      });
      if (mine !== request.current) return;
      setData(page);
      setLoadError(null);
    } catch (err) {
      if (mine !== request.current) return;
      setLoadError(err instanceof ApiError ? err : new ApiError(0, 'Something went wrong.'));
    } finally {
      if (mine === request.current) setLoading(false);
    }
  }, [status, search, cursor]);

  useEffect(() => {
    if (canRead) void load();
  }, [canRead, load]);

  if (!canRead || loadError?.status === 403) {
    return (
      <PermissionDenied need="Viewing MCP connections needs the MCP_CONNECTIONS_READ permission (api-keys:read)." />
    );
  }

  const confirm = async () => {
    if (!pending) return;
    const { action, connection } = pending;
    setBusy(true);
    try {
      const updated =
        action === 'revoke' ? await api.revoke(connection.id) : await api.regenerateKey(connection.id);
      // SPEC §6: the row updates in place, no reload.
      setData((d) => (d ? { ...d, items: d.items.map((c) => (c.id === updated.id ? updated : c)) } : d));
      notices.done(
        action === 'revoke'
          ? `Connection revoked. ${updated.clientName} must sign in again to reconnect.`
          : `API key regenerated. The new key starts ${updated.apiKeyPrefix}…`,
      );
    } catch (err) {
      const reason = err instanceof ApiError ? err.message : 'Something went wrong.';
      notices.failed(`Could not ${CONFIRM[action].verb}: ${sentence(reason)} Nothing was changed.`);
    } finally {
      setBusy(false);
      setPending(null);
    }
  };

  // SPEC §10 Revoke all from the detail dialog: the count in the question is the user's active connections.
  const askRevokeAll = async (email: string) => {
    try {
      const { total } = await api.listConnections({ status: 'active', q: email, limit: 1 });
      setDetailsId(null);
      setRevokeAll({ email, n: total });
    } catch (err) {
      const reason = err instanceof ApiError ? err.message : 'Something went wrong.';
      notices.failed(`Could not count the connections of ${email}: ${sentence(reason)}`);
    }
  };

  const confirmRevokeAll = async () => {
    if (!revokeAll) return;
    setBusy(true);
    try {
      const { revoked } = await api.revokeAll(revokeAll.email);
      notices.done(`Revoked ${count(revoked, 'connection')} of ${revokeAll.email}.`);
      await load();
    } catch (err) {
      const reason = err instanceof ApiError ? err.message : 'Something went wrong.';
      notices.failed(
        `Could not revoke the connections of ${revokeAll.email}: ${sentence(reason)} Nothing was changed.`,
      );
    } finally {
      setBusy(false);
      setRevokeAll(null);
    }
  };

  const filtered = status !== 'all' || search !== '';
  const items = data?.items ?? [];
  const details = detailsId ? items.find((c) => c.id === detailsId) : undefined;
  return (
    <>
      <Breadcrumb page="MCP" />
      <header className="page-header">
        <div className="title-row">
          <h1>MCP Connections</h1>
          {data ? <span className="count-pill">{count(data.total, 'connection')}</span> : null}
        </div>
        <p className="muted">
          Every MCP client that signed in through Waxseal, with its own API key. Revoking cuts a client off at
          once; regenerating replaces its key without the user signing in again.
        </p>
      </header>
      <UpstreamsStatus />
      <Notices {...notices} />
      <Toolbar status={status} query={query} onStatus={filterStatus} onQuery={setQuery} />
      {loadError ? (
        <div role="alert" className="alert alert-row">
          <span>Could not load connections: {sentence(loadError.message)}</span>
          <button type="button" className="secondary small" onClick={() => void load()}>
            Try again
          </button>
        </div>
      ) : null}
      {data && items.length > 0 ? (
        <section className="panel" aria-busy={loading}>
          <ConnectionsTable
            items={items}
            canAct={canAct}
            now={now}
            caption={filtered ? 'MCP connections matching the filter' : 'MCP connections'}
            onAction={(action, connection) => setPending({ action, connection })}
            onOpen={(connection) => setDetailsId(connection.id)}
          />
          <Pagination
            page={cursors.length - 1}
            pageSize={PAGE_SIZE}
            shown={items.length}
            total={data.total}
            hasNext={data.nextCursor !== null}
            busy={loading}
            onPrevious={() => setCursors((c) => (c.length > 1 ? c.slice(0, -1) : c))}
            onNext={() => data.nextCursor && setCursors((c) => [...c, data.nextCursor ?? undefined])}
          />
        </section>
      ) : data ? (
        <section className="panel empty">
          <Plug size={28} aria-hidden="true" className="empty-icon" />
          {filtered ? (
            <p>No connections match this filter.</p>
          ) : (
            <p>
              No connections yet. When an MCP client signs in through Waxseal it appears here; see{' '}
              <strong>How to Connect</strong>.
            </p>
          )}
        </section>
      ) : loading ? (
        <p className="muted loading">Loading connections…</p>
      ) : null}
      {details ? (
        <ConnectionDetails
          connection={details}
          onClose={() => setDetailsId(null)}
          canEditTools={canAct}
          onRevokeAll={
            canAct && details.status === 'active' ? (email) => void askRevokeAll(email) : undefined
          }
          returnFocus={() => document.getElementById(rowId(details.id))}
        />
      ) : null}
      {revokeAll ? (
        <ConfirmDialog
          title="Revoke all connections"
          message={`Revoke all ${revokeAll.n} MCP connections of ${revokeAll.email}? Their API keys will be deactivated and every client will need to re-authorize.`}
          danger
          busy={busy}
          onConfirm={() => void confirmRevokeAll()}
          onCancel={() => setRevokeAll(null)}
        />
      ) : null}
      {pending ? (
        <ConfirmDialog
          title={CONFIRM[pending.action].title}
          message={CONFIRM[pending.action].message}
          danger={pending.action === 'revoke'}
          busy={busy}
          onConfirm={() => void confirm()}
          onCancel={() => setPending(null)}
          returnFocus={() => document.getElementById(rowId(pending.connection.id))}
        />
      ) : null}
    </>
  );
}

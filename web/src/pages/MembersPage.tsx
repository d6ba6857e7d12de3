import { useCallback, useEffect, useState } from 'react';
import { ApiError, api, type Me, type Member, type MemberList, PERMISSION } from '../api';
import { AddMemberForm } from '../components/AddMemberForm';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { Breadcrumb } from '../components/Layout';
import { type MemberAction, MembersTable } from '../components/MembersTable';
import { Notices, useNotices } from '../components/Notices';
import { PermissionDenied } from '../components/PermissionDenied';
import { RoleGuide } from '../components/RoleGuide';
import { count } from '../format';

/** SPEC §10 confirmations; Revoke all's is word for word. */
export const CONFIRM: Record<MemberAction, (m: Member) => { title: string; message: string }> = {
  revokeAll: (m) => ({
    title: 'Revoke all connections',
    message: `Revoke all ${m.activeConnections} MCP connections of ${m.email}? Their API keys will be deactivated and every client will need to re-authorize.`,
  }),
  disable: (m) => ({
    title: 'Disable member',
    message: `Disable ${m.email}? Every MCP connection of theirs will be revoked, their dashboard sessions will end, and they will not be able to sign in until enabled again.`,
  }),
  enable: (m) => ({
    title: 'Enable member',
    message: `Enable ${m.email}? They will be able to sign in again; their revoked connections stay revoked.`,
  }),
};

const sentence = (text: string) => (/[.!?]$/.test(text) ? text : `${text}.`);
const reason = (err: unknown) => sentence(err instanceof ApiError ? err.message : 'Something went wrong');

/** Settings › Members (owners): list users and roles, add a user, change a role. */
export function MembersPage({ me }: { me: Me }) {
  const allowed = me.permissions.includes(PERMISSION.MEMBERS_MANAGE);
  const [data, setData] = useState<MemberList | null>(null);
  const [loadError, setLoadError] = useState<ApiError | null>(null);
  const [busy, setBusy] = useState(false);
  const [reset, setReset] = useState(0);
  const [pending, setPending] = useState<{ member: Member; action: MemberAction } | null>(null);
  const notices = useNotices();

  useEffect(() => {
    document.title = 'Members · Waxseal';
  }, []);

  const load = useCallback(async () => {
    try {
      setData(await api.members());
      setLoadError(null);
    } catch (err) {
      setLoadError(err instanceof ApiError ? err : new ApiError(0, 'Something went wrong.'));
    }
  }, []);

  useEffect(() => {
    if (allowed) void load();
  }, [allowed, load]);

  if (!allowed || loadError?.status === 403) {
    return (
      <PermissionDenied need="Managing members needs the members:manage permission, which owners have." />
    );
  }

  const roles = data?.roles.map((r) => r.name) ?? [];

  const add = async (input: { email: string; password: string; role: string }) => {
    setBusy(true);
    try {
      const member = await api.addMember(input);
      setData((d) => (d ? { ...d, items: [...d.items, member] } : d));
      notices.done(`Added ${member.email} as ${member.role}.`);
      return true;
    } catch (err) {
      notices.failed(`Could not add the member: ${reason(err)}`);
      return false;
    } finally {
      setBusy(false);
    }
  };

  const setRole = async (member: Member, role: string) => {
    setBusy(true);
    try {
      const updated = await api.setRole(member.email, role);
      setData((d) => (d ? { ...d, items: d.items.map((m) => (m.id === updated.id ? updated : m)) } : d));
      notices.done(`${updated.email} is now ${updated.role}.`);
      // Your own role changed what you may do here: load the dashboard again as who you now are.
      if (updated.email === me.email) window.location.reload();
    } catch (err) {
      notices.failed(`Could not change the role of ${member.email}: ${reason(err)} Nothing was changed.`);
      setReset((n) => n + 1); // the selects show the roles the server has again
    } finally {
      setBusy(false);
    }
  };

  const replace = (updated: Member) =>
    setData((d) => (d ? { ...d, items: d.items.map((m) => (m.id === updated.id ? updated : m)) } : d));

  const act = async () => {
    if (!pending) return;
    const { member, action } = pending;
    setBusy(true);
    try {
      if (action === 'revokeAll') {
        const { revoked } = await api.revokeAll(member.email);
        replace({ ...member, activeConnections: 0 });
        notices.done(`Revoked ${count(revoked, 'connection')} of ${member.email}.`);
      } else {
        const updated = await (action === 'disable' ? api.disableMember : api.enableMember)(member.email);
        replace(updated);
        notices.done(`${updated.email} is ${updated.status === 'disabled' ? 'disabled' : 'enabled'}.`);
      }
    } catch (err) {
      notices.failed(`Could not change ${member.email}: ${reason(err)} Nothing was changed.`);
    } finally {
      setBusy(false);
      setPending(null);
    }
  };

  return (
    <>
      <Breadcrumb page="Members" />
      <header className="page-header">
        <div className="title-row">
          <h1>Members</h1>
          {data ? <span className="count-pill">{count(data.items.length, 'member')}</span> : null}
        </div>
        <p className="muted">Who can sign in to Waxseal, and what their role lets them do.</p>
      </header>
      <Notices {...notices} />
      {loadError ? (
        <div role="alert" className="alert alert-row">
          <span>Could not load members: {sentence(loadError.message)}</span>
          <button type="button" className="secondary small" onClick={() => void load()}>
            Try again
          </button>
        </div>
      ) : null}
      {data ? (
        <div className="members-layout">
          <div className="members-main">
            <section className="panel">
              <MembersTable
                members={data.items}
                roles={roles}
                me={me.email}
                busy={busy}
                reset={reset}
                onSetRole={setRole}
                onAction={(member, action) => setPending({ member, action })}
              />
            </section>
            <AddMemberForm roles={roles} busy={busy} onAdd={add} />
          </div>
          <RoleGuide roles={data.roles} />
        </div>
      ) : loadError ? null : (
        <p className="muted loading">Loading members…</p>
      )}
      {pending ? (
        <ConfirmDialog
          {...CONFIRM[pending.action](pending.member)}
          busy={busy}
          danger={pending.action !== 'enable'}
          onConfirm={() => void act()}
          onCancel={() => setPending(null)}
        />
      ) : null}
    </>
  );
}

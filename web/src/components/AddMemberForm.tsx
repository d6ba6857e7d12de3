import { UserPlus } from 'lucide-react';
import { type FormEvent, useId, useState } from 'react';

export interface AddMemberFormProps {
  roles: string[];
  busy: boolean;
  onAdd: (input: { email: string; password: string; role: string }) => Promise<boolean>;
}

/** Email, password and role of a new member; cleared after it was added. */
export function AddMemberForm({ roles, busy, onAdd }: AddMemberFormProps) {
  const id = useId();
  const [email, setEmail] = useState('');
  const [password, setPassword] = useState('');
  const [role, setRole] = useState('member');

  const submit = async (event: FormEvent) => {
    event.preventDefault();
    if (await onAdd({ email, password, role })) {
      setEmail('');
      setPassword('');
      setRole('member');
    }
  };

  return (
    <section className="panel" aria-labelledby={`${id}-title`}>
      <h2 id={`${id}-title`}>Add a member</h2>
      <form className="add-member" onSubmit={submit}>
        <div className="field">
          <label htmlFor={`${id}-email`}>Email</label>
          <input
            id={`${id}-email`}
            type="email"
            autoComplete="off"
            required
            maxLength={254}
            value={email}
            onChange={(e) => setEmail(e.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor={`${id}-password`}>Password</label>
          <input
            id={`${id}-password`}
            type="password"
            autoComplete="new-password"
            required
            minLength={8}
            maxLength={1024}
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor={`${id}-role`}>Role</label>
          <select id={`${id}-role`} value={role} onChange={(e) => setRole(e.target.value)}>
            {roles.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </div>
        <button type="submit" className="primary" disabled={busy}>
          <UserPlus size={18} aria-hidden="true" />
          Add member
        </button>
      </form>
    </section>
  );
}

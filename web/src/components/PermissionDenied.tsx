import { ShieldX } from 'lucide-react';

/** SPEC §6: what a user without the page's permission sees instead of it. */
export function PermissionDenied({ need }: { need: string }) {
  return (
    <section className="denied" aria-labelledby="denied-title">
      <ShieldX size={40} aria-hidden="true" className="denied-icon" />
      <h1 id="denied-title">Permission Denied</h1>
      <p className="muted">{need} Ask an owner of this Waxseal to change your role.</p>
    </section>
  );
}

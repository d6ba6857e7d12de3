import { CircleQuestionMark, LogOut, Plug, Users } from 'lucide-react';
import { type MouseEvent, type ReactNode, useState } from 'react';
import { type Me, PERMISSION, type ServerConfig } from '../api';
import { navigate, PATHS } from '../navigation';
import { HelpDialog } from './HelpDialog';

export type Page = 'connections' | 'members';

function NavLink({
  href,
  current,
  icon,
  children,
}: {
  href: string;
  current: boolean;
  icon: ReactNode;
  children: ReactNode;
}) {
  const onClick = (event: MouseEvent<HTMLAnchorElement>) => {
    if (event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
    event.preventDefault();
    navigate(href);
  };
  return (
    <a href={href} className="nav-link" aria-current={current ? 'page' : undefined} onClick={onClick}>
      {icon}
      {children}
    </a>
  );
}

/** The dashboard frame: top bar (How to Connect, account, sign out) and the Settings navigation. */
export function Layout({
  me,
  config,
  page,
  children,
}: {
  me: Me;
  config: ServerConfig;
  page: Page;
  children: ReactNode;
}) {
  const [help, setHelp] = useState(false);
  const owner = me.permissions.includes(PERMISSION.MEMBERS_MANAGE);
  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <a className="brand" href="/">
          <span className="seal" aria-hidden="true" />
          Waxseal
        </a>
        <div className="topbar-actions">
          <button type="button" className="secondary" onClick={() => setHelp(true)}>
            <CircleQuestionMark size={18} aria-hidden="true" />
            How to Connect
          </button>
          <span className="account">
            <span className="account-email">{me.email}</span>
            <span className="role-tag">{me.role}</span>
          </span>
          <form method="post" action="/signout">
            <button type="submit" className="ghost" aria-label="Sign out" title="Sign out">
              <LogOut size={18} aria-hidden="true" />
            </button>
          </form>
        </div>
      </header>
      <div className="frame">
        <nav className="sidenav" aria-label="Settings">
          <p className="sidenav-title">Settings</p>
          <NavLink
            href={PATHS.connections}
            current={page === 'connections'}
            icon={<Plug size={17} aria-hidden="true" />}
          >
            MCP
          </NavLink>
          {owner ? (
            <NavLink
              href={PATHS.members}
              current={page === 'members'}
              icon={<Users size={17} aria-hidden="true" />}
            >
              Members
            </NavLink>
          ) : null}
        </nav>
        <main id="main" className="content" tabIndex={-1}>
          {children}
        </main>
      </div>
      {help ? <HelpDialog mcpUrl={config.mcpUrl} onClose={() => setHelp(false)} /> : null}
    </div>
  );
}

/** `Settings › MCP` above each page's heading. */
export function Breadcrumb({ page }: { page: string }) {
  return (
    <nav aria-label="Breadcrumb" className="crumbs">
      <ol>
        <li>Settings</li>
        <li aria-hidden="true" className="crumb-sep">
          ›
        </li>
        <li aria-current="page">{page}</li>
      </ol>
    </nav>
  );
}

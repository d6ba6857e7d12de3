import { useEffect, useState } from 'react';

/** The dashboard's own pages; moving between them needs no reload. */
export const PATHS = {
  connections: '/settings/mcp-connections',
  members: '/settings/members',
} as const;

export function navigate(path: string): void {
  if (path === window.location.pathname) return;
  window.history.pushState(null, '', path);
  window.dispatchEvent(new PopStateEvent('popstate'));
}

export function usePath(): string {
  const [path, setPath] = useState(window.location.pathname);
  useEffect(() => {
    const update = () => setPath(window.location.pathname);
    window.addEventListener('popstate', update);
    return () => window.removeEventListener('popstate', update);
  }, []);
  return path;
}

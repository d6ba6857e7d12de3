import { useEffect, useState } from 'react';
import { ApiError, api, type Me, type ServerConfig } from './api';
import { Layout } from './components/Layout';
import { PATHS, usePath } from './navigation';
import { ConnectionsPage } from './pages/ConnectionsPage';
import { MembersPage } from './pages/MembersPage';

type Loaded = { me: Me; config: ServerConfig } | { error: string } | null;

export function App() {
  const path = usePath().replace(/\/+$/, '');
  const [loaded, setLoaded] = useState<Loaded>(null);

  useEffect(() => {
    Promise.all([api.me(), api.config()])
      .then(([me, config]) => setLoaded({ me, config }))
      .catch((err: unknown) => {
        if (err instanceof ApiError && err.status === 401) return; // on its way to the sign-in page
        setLoaded({ error: err instanceof Error ? err.message : 'Something went wrong.' });
      });
  }, []);

  if (loaded === null) {
    return <p className="boot">Loading…</p>;
  }
  if ('error' in loaded) {
    return (
      <p className="boot alert" role="alert">
        {loaded.error}
      </p>
    );
  }
  const { me, config } = loaded;
  const page = path === PATHS.members ? 'members' : 'connections';
  return (
    <Layout me={me} config={config} page={page}>
      {page === 'members' ? <MembersPage me={me} /> : <ConnectionsPage me={me} />}
    </Layout>
  );
}

import { useEffect, useState } from 'react';
import { api, type Upstream } from '../api';

/** Each configured upstream and its state; nothing at all when none is configured or the call fails. */
export function UpstreamsStatus() {
  const [items, setItems] = useState<Upstream[]>([]);

  useEffect(() => {
    let live = true;
    api
      .upstreams()
      .then((r) => {
        if (live) setItems(r.items);
      })
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, []);

  if (items.length === 0) return null;
  return (
    <section className="panel upstreams" aria-labelledby="upstreams-heading">
      <h2 id="upstreams-heading">Upstreams</h2>
      <ul className="upstream-list">
        {items.map((u) => (
          <li key={u.name} data-upstream={u.name} data-status={u.status}>
            <span className="upstream-name">{u.name}</span>{' '}
            <span className={`badge badge-upstream-${u.status}`} title={u.error}>
              {u.status}
            </span>
          </li>
        ))}
      </ul>
    </section>
  );
}

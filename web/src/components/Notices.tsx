import { X } from 'lucide-react';
import { useCallback, useEffect, useState } from 'react';

/**
 * A short confirmation (role="status", read politely) and an error message
 * (role="alert") for the actions on a page.
 */
export function useNotices() {
  const [status, setStatus] = useState('');
  const [error, setError] = useState('');
  useEffect(() => {
    if (!status) return;
    const timer = window.setTimeout(() => setStatus(''), 6000);
    return () => window.clearTimeout(timer);
  }, [status]);
  const done = useCallback((message: string) => {
    setError('');
    setStatus(message);
  }, []);
  const failed = useCallback((message: string) => {
    setStatus('');
    setError(message);
  }, []);
  return { status, error, done, failed, clearError: () => setError('') };
}

export function Notices({
  status,
  error,
  clearError,
}: {
  status: string;
  error: string;
  clearError: () => void;
}) {
  return (
    <>
      <div role="status" className={status ? 'toast' : 'toast toast-empty'}>
        {status}
      </div>
      {error ? (
        <div role="alert" className="alert alert-row">
          <span>{error}</span>
          <button type="button" className="ghost small" aria-label="Dismiss" onClick={clearError}>
            <X size={16} aria-hidden="true" />
          </button>
        </div>
      ) : null}
    </>
  );
}

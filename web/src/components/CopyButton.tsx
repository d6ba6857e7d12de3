import { Check, Copy } from 'lucide-react';
import { useEffect, useState } from 'react';

/** Copies text to the clipboard; where the clipboard is refused it selects the text to copy by hand. */
export function CopyButton({ text, label, target }: { text: string; label: string; target?: string }) {
  const [state, setState] = useState<'idle' | 'copied' | 'manual'>('idle');

  useEffect(() => {
    if (state === 'idle') return;
    const timer = window.setTimeout(() => setState('idle'), 2500);
    return () => window.clearTimeout(timer);
  }, [state]);

  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setState('copied');
    } catch {
      const element = target ? document.getElementById(target) : null;
      if (element) window.getSelection()?.selectAllChildren(element);
      setState('manual');
    }
  };

  return (
    <span className="copy">
      <button type="button" className="secondary small" aria-label={label} onClick={copy}>
        {state === 'copied' ? <Check size={16} /> : <Copy size={16} />}
        {state === 'copied' ? 'Copied' : 'Copy'}
      </button>
      <span className="copy-note" aria-live="polite">
        {state === 'manual' ? 'Selected; press Ctrl+C to copy.' : ''}
      </span>
    </span>
  );
}

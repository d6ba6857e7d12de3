import { type ReactNode, useEffect, useId, useRef } from 'react';

const FOCUSABLE =
  'a[href], button:not([disabled]), input:not([disabled]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex="-1"])';

export interface DialogProps {
  role: 'dialog' | 'alertdialog';
  title: string;
  /** Shown under the title and read as the dialog's description. */
  description?: ReactNode;
  children?: ReactNode;
  onClose: () => void;
  /** Which element gets focus first; the first focusable one otherwise. */
  initialFocus?: string;
  /** Where focus goes on close when the opener is gone (e.g. a revoked row lost its buttons). */
  returnFocus?: () => HTMLElement | null;
  className?: string;
}

/**
 * A modal dialog: the page behind is inert (showModal), Tab and Shift+Tab stay
 * inside, Escape closes, and focus goes back to where it was.
 */
export function Dialog({
  role,
  title,
  description,
  children,
  onClose,
  initialFocus,
  returnFocus,
  className,
}: DialogProps) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  const descriptionId = useId();
  const close = useRef(onClose);
  close.current = onClose;
  const back = useRef(returnFocus);
  back.current = returnFocus;

  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    const opener = document.activeElement instanceof HTMLElement ? document.activeElement : null;
    if (!dialog.open) dialog.showModal();
    const first = initialFocus ? dialog.querySelector<HTMLElement>(initialFocus) : null;
    (first ?? dialog.querySelector<HTMLElement>(FOCUSABLE))?.focus();
    const onCancel = (event: Event) => {
      event.preventDefault();
      close.current();
    };
    dialog.addEventListener('cancel', onCancel);
    return () => {
      dialog.removeEventListener('cancel', onCancel);
      if (dialog.open) dialog.close();
      const target = opener?.isConnected ? opener : (back.current?.() ?? null);
      target?.focus();
    };
  }, [initialFocus]);

  const onKeyDown = (event: React.KeyboardEvent<HTMLDialogElement>) => {
    if (event.key === 'Escape') {
      event.preventDefault();
      onClose();
      return;
    }
    if (event.key !== 'Tab') return;
    const items = [...event.currentTarget.querySelectorAll<HTMLElement>(FOCUSABLE)];
    const firstItem = items[0];
    const lastItem = items[items.length - 1];
    if (!firstItem || !lastItem) return;
    const active = document.activeElement;
    if (event.shiftKey && (active === firstItem || !event.currentTarget.contains(active))) {
      event.preventDefault();
      lastItem.focus();
    } else if (!event.shiftKey && (active === lastItem || !event.currentTarget.contains(active))) {
      event.preventDefault();
      firstItem.focus();
    }
  };

  return (
    <dialog
      ref={ref}
      role={role}
      aria-modal="true"
      aria-labelledby={titleId}
      aria-describedby={description ? descriptionId : undefined}
      className={`dialog ${className ?? ''}`}
      onKeyDown={onKeyDown}
    >
      <h2 id={titleId} className="dialog-title">
        {title}
      </h2>
      {description ? (
        <div id={descriptionId} className="dialog-description">
          {description}
        </div>
      ) : null}
      {children}
    </dialog>
  );
}

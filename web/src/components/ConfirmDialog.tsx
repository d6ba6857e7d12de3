import { Dialog } from './Dialog';

export interface ConfirmDialogProps {
  title: string;
  /** The question, word for word from SPEC §6. */
  message: string;
  busy: boolean;
  danger?: boolean;
  onConfirm: () => void;
  onCancel: () => void;
  returnFocus?: () => HTMLElement | null;
}

/** SPEC §6 confirmation: an alertdialog with OK and Cancel; Cancel has focus first, so Enter alone changes nothing. */
export function ConfirmDialog({
  title,
  message,
  busy,
  danger,
  onConfirm,
  onCancel,
  returnFocus,
}: ConfirmDialogProps) {
  return (
    <Dialog
      role="alertdialog"
      title={title}
      description={<p>{message}</p>}
      onClose={busy ? () => undefined : onCancel}
      initialFocus="[data-cancel]"
      returnFocus={returnFocus}
      className="dialog-confirm"
    >
      <div className="actions">
        <button type="button" className="secondary" data-cancel onClick={onCancel} disabled={busy}>
          Cancel
        </button>
        <button
          type="button"
          className={danger ? 'danger' : 'primary'}
          onClick={onConfirm}
          disabled={busy}
          aria-busy={busy}
        >
          OK
        </button>
      </div>
    </Dialog>
  );
}

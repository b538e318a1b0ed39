// Shared pieces: data hooks, dialogs, labelled fields, tabs, badges and the live announcer.
import { useCallback, useEffect, useId, useRef, useState } from 'preact/hooks';

export function useAsync(load, deps) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const seq = useRef(0);
  const run = useCallback(() => {
    const mine = ++seq.current;
    setState((s) => ({ ...s, loading: true }));
    return load().then(
      (data) => mine === seq.current && setState({ data, error: null, loading: false }),
      (error) => mine === seq.current && setState({ data: null, error, loading: false }),
    );
  }, deps);
  useEffect(() => {
    run();
  }, [run]);
  return { ...state, reload: run };
}

// A union result: the success member, or throws its message.
export function ok(result, typename) {
  if (!result) throw new Error('no answer');
  if (result.__typename !== typename) {
    const err = new Error(result.message || `unexpected answer ${result.__typename}`);
    err.result = result;
    throw err;
  }
  return result;
}

const announcers = new Set();
export function announce(message, kind = 'info') {
  announcers.forEach((fn) => fn({ message, kind, at: Date.now() }));
}

export function Announcer() {
  const [item, setItem] = useState(null);
  useEffect(() => {
    announcers.add(setItem);
    return () => announcers.delete(setItem);
  }, []);
  useEffect(() => {
    if (!item) return undefined;
    const t = setTimeout(() => setItem(null), 6000);
    return () => clearTimeout(t);
  }, [item]);
  return (
    <div class={`toast ${item ? `toast-${item.kind}` : 'toast-empty'}`} role="status" aria-live="polite">
      {item?.message}
    </div>
  );
}

export function ErrorText({ error }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {error.message || String(error)}
    </p>
  );
}

export function Loading({ what = 'Loading' }) {
  return (
    <p class="muted" aria-busy="true">
      {what}…
    </p>
  );
}

// A modal on the native <dialog>: focus moves into it (first field), Escape closes it, and
// focus returns to whatever opened it.
export function Dialog({ title, onClose, children, wide = false }) {
  const ref = useRef(null);
  const titleId = useId();
  useEffect(() => {
    const opener = document.activeElement;
    const dialog = ref.current;
    dialog.showModal();
    const first = dialog.querySelector('input, select, textarea, button:not(.dialog-close)');
    (first || dialog).focus();
    return () => opener && opener.focus && opener.focus();
  }, []);
  return (
    <dialog
      ref={ref}
      class={wide ? 'wide' : ''}
      aria-labelledby={titleId}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
    >
      <header class="dialog-head">
        <h2 id={titleId}>{title}</h2>
        <button type="button" class="dialog-close ghost" aria-label="Close" onClick={onClose}>
          ×
        </button>
      </header>
      {children}
    </dialog>
  );
}

export function Field({ label, hint, children, id: given }) {
  const auto = useId();
  const id = given || auto;
  const child = typeof children === 'function' ? children(id) : children;
  return (
    <div class="field">
      <label for={id}>{label}</label>
      {child}
      {hint && <small class="muted">{hint}</small>}
    </div>
  );
}

export function TextInput({ label, hint, value, onInput, ...rest }) {
  return (
    <Field label={label} hint={hint}>
      {(id) => <input id={id} value={value} onInput={(e) => onInput(e.currentTarget.value)} {...rest} />}
    </Field>
  );
}

export function Select({ label, hint, value, onChange, options, ...rest }) {
  return (
    <Field label={label} hint={hint}>
      {(id) => (
        <select id={id} value={value} onChange={(e) => onChange(e.currentTarget.value)} {...rest}>
          {options.map((o) => {
            const [v, text] = Array.isArray(o) ? o : [o, o];
            return (
              <option key={v} value={v}>
                {text}
              </option>
            );
          })}
        </select>
      )}
    </Field>
  );
}

export function Tabs({ tabs, current, onSelect, label }) {
  const refs = useRef({});
  const keys = tabs.map((t) => t[0]);
  const onKeyDown = (e) => {
    const at = keys.indexOf(current);
    const step = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
    if (!step) return;
    e.preventDefault();
    const next = keys[(at + step + keys.length) % keys.length];
    onSelect(next);
    refs.current[next]?.focus();
  };
  return (
    <div class="tabs" role="tablist" aria-label={label} onKeyDown={onKeyDown}>
      {tabs.map(([key, text]) => (
        <button
          key={key}
          ref={(el) => (refs.current[key] = el)}
          type="button"
          role="tab"
          id={`tab-${key}`}
          aria-selected={current === key}
          aria-controls={`panel-${key}`}
          tabIndex={current === key ? 0 : -1}
          onClick={() => onSelect(key)}
        >
          {text}
        </button>
      ))}
    </div>
  );
}

export function TabPanel({ name, children }) {
  return (
    <section role="tabpanel" id={`panel-${name}`} aria-labelledby={`tab-${name}`} class="panel">
      {children}
    </section>
  );
}

export function Badge({ value }) {
  const v = String(value || '').toUpperCase();
  return <span class={`badge badge-${v.toLowerCase()}`}>{v}</span>;
}

export function Progress({ value, label }) {
  const pct = Math.round((value || 0) * 100);
  return (
    <div class="progress-wrap">
      <progress max="100" value={pct} aria-label={label}>
        {pct}%
      </progress>
      <span>{pct}%</span>
    </div>
  );
}

export function bytes(n) {
  if (n === null || n === undefined) return '—';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = Number(n);
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${i ? v.toFixed(1) : v} ${units[i]}`;
}

export function when(iso) {
  if (!iso) return '—';
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export function Empty({ children }) {
  return <p class="empty muted">{children}</p>;
}

export function Copy({ text, label = 'Copy' }) {
  const [done, setDone] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      const area = document.createElement('textarea');
      area.value = text;
      document.body.append(area);
      area.select();
      document.execCommand('copy');
      area.remove();
    }
    setDone(true);
    announce(`${label}: copied to the clipboard`);
    setTimeout(() => setDone(false), 1500);
  };
  return (
    <button type="button" class="small" onClick={copy}>
      {done ? 'Copied' : label}
    </button>
  );
}

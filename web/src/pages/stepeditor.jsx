// The preprocessing-step editor: ordered steps that can be added, edited, removed and moved.
import { Field, Select } from '../ui.jsx';

export const KINDS = {
  select: { label: 'Select columns', fields: [['columns', 'Columns (comma separated)', 'list']] },
  drop: { label: 'Drop columns', fields: [['columns', 'Columns (comma separated)', 'list']] },
  rename: { label: 'Rename columns', fields: [['mapping', 'old=new, comma separated', 'mapping']] },
  cast: { label: 'Cast', fields: [['column', 'Column', 'text'], ['dtype', 'Type', 'dtype']] },
  fill_missing: { label: 'Fill missing', fields: [['column', 'Column', 'text'], ['value', 'Value, or "mean" for the whole input\'s mean', 'fill']] },
  standard_scale: { label: 'Standard scale', fields: [['column', 'Column', 'text'], ['mean', 'Mean', 'number'], ['std', 'Std', 'number']] },
  min_max_scale: { label: 'Min-max scale', fields: [['column', 'Column', 'text'], ['min', 'Min', 'number'], ['max', 'Max', 'number']] },
  clip: { label: 'Clip', fields: [['column', 'Column', 'text'], ['lower', 'Lower (optional)', 'number?'], ['upper', 'Upper (optional)', 'number?']] },
  one_hot: { label: 'One-hot encode', fields: [['column', 'Column', 'text'], ['categories', 'Categories (comma separated)', 'list']] },
};
const DTYPES = ['float32', 'float64', 'int32', 'int64', 'string', 'bool'];

const split = (text) => text.split(',').map((s) => s.trim()).filter(Boolean);
const scalar = (text) => (text !== '' && !Number.isNaN(Number(text)) ? Number(text) : text);

// Editor rows keep the raw text of each field; toSteps turns them into the API's objects.
export function toSteps(rows) {
  return rows.map((row, index) => {
    const step = { kind: row.kind };
    for (const [name, label, type] of KINDS[row.kind].fields) {
      const text = (row.values[name] ?? '').trim();
      if (type === 'list') step[name] = name === 'categories' ? split(text).map(scalar) : split(text);
      else if (type === 'mapping') step[name] = Object.fromEntries(split(text).map((p) => p.split('=').map((s) => s.trim())));
      else if (type === 'number' || type === 'number?') {
        if (text === '' && type === 'number?') continue;
        if (text === '' || Number.isNaN(Number(text))) throw new Error(`Step ${index + 1} (${KINDS[row.kind].label}): ${label} must be a number.`);
        step[name] = Number(text);
      } else if (type === 'fill') {
        if (text === 'mean') step.strategy = 'mean';
        else step.value = scalar(text);
      } else step[name] = text || (type === 'dtype' ? 'float32' : '');
    }
    return step;
  });
}

export function StepEditor({ rows, onChange }) {
  const update = (i, row) => onChange(rows.map((r, j) => (j === i ? row : r)));
  const move = (i, by) => {
    const next = [...rows];
    const [item] = next.splice(i, 1);
    next.splice(i + by, 0, item);
    onChange(next);
  };
  return (
    <div class="stack">
      {rows.length === 0 && <p class="muted">No preprocessing: rows go to the model as read.</p>}
      <ol class="step-list">
        {rows.map((row, i) => (
          <li key={row.key} class="card step" aria-label={`Step ${i + 1}: ${KINDS[row.kind].label}`}>
            <div class="row">
              <Select
                label={`Step ${i + 1} kind`}
                value={row.kind}
                onChange={(kind) => update(i, { ...row, kind, values: {} })}
                options={Object.entries(KINDS).map(([k, v]) => [k, v.label])}
              />
              {KINDS[row.kind].fields.map(([name, label, type]) => (
                <Field key={name} label={label}>
                  {(id) =>
                    type === 'dtype' ? (
                      <select id={id} value={row.values[name] || 'float32'} onChange={(e) => update(i, { ...row, values: { ...row.values, [name]: e.currentTarget.value } })}>
                        {DTYPES.map((d) => <option key={d} value={d}>{d}</option>)}
                      </select>
                    ) : (
                      <input id={id} value={row.values[name] || ''} onInput={(e) => update(i, { ...row, values: { ...row.values, [name]: e.currentTarget.value } })} />
                    )
                  }
                </Field>
              ))}
            </div>
            <div class="actions left">
              <button type="button" class="small" disabled={i === 0} onClick={() => move(i, -1)} aria-label={`Move step ${i + 1} up`}>Move up</button>
              <button type="button" class="small" disabled={i === rows.length - 1} onClick={() => move(i, 1)} aria-label={`Move step ${i + 1} down`}>Move down</button>
              <button type="button" class="small danger" onClick={() => onChange(rows.filter((_, j) => j !== i))} aria-label={`Remove step ${i + 1}`}>Remove</button>
            </div>
          </li>
        ))}
      </ol>
      <button type="button" onClick={() => onChange([...rows, { key: `${Date.now()}-${rows.length}`, kind: 'standard_scale', values: {} }])}>
        Add a step
      </button>
    </div>
  );
}

// One model: its versions (format, runtime, metrics, status, files, services), tags,
// deletion (showing the services that use it first), history and the as-of view.
import { useState } from 'preact/hooks';
import { gql } from '../api.js';
import { Link, navigate, setQuery, useLocation } from '../router.jsx';
import { Dialog, ErrorText, Loading, TabPanel, Tabs, announce, useAsync, when } from '../ui.jsx';
import { AsOfView, HistoryTab } from './history.jsx';
import { ImportDialog } from './import.jsx';
import { VersionRow } from './version.jsx';

const MODEL = `query($id: ID!) {
  model(id: $id) {
    id name list description createdAt updatedAt createdBy versionCount
    tags { key value }
    versions(first: 100) {
      nodes {
        id name number format framework runtime status failure description createdAt createdBy
        size fileCount downloadUrl storageUri
        source { kind uri mode trainingTaskId }
        metrics { name value }
        associatedServices { id name status }
      }
    }
  }
}`;
const EDIT_TAGS = `mutation($id: ID!, $tags: [TagInput!]!, $reason: String) {
  editModelTags(modelId: $id, tags: $tags, reason: $reason) {
    __typename ... on Error { message }
  }
}`;
const DELETE = `mutation($id: ID!, $force: Boolean!, $reason: String) {
  deleteModel(modelId: $id, force: $force, reason: $reason) {
    __typename ... on DeleteModelSuccess { deletedVersions }
    ... on InUse { message services } ... on Error { message }
  }
}`;

function TagsDialog({ model, onClose, onSaved }) {
  const [rows, setRows] = useState(model.tags.length ? model.tags.map((t) => ({ ...t })) : [{ key: '', value: '' }]);
  const [reason, setReason] = useState('');
  const [error, setError] = useState(null);
  const update = (i, key, value) => setRows(rows.map((r, j) => (i === j ? { ...r, [key]: value } : r)));
  const save = async (e) => {
    e.preventDefault();
    setError(null);
    const tags = rows.filter((r) => r.key.trim()).map((r) => ({ key: r.key.trim(), value: r.value.trim() }));
    try {
      const data = await gql(EDIT_TAGS, { id: model.id, tags, reason: reason || null });
      if (data.editModelTags.__typename !== 'ModelPayload') throw new Error(data.editModelTags.message);
      announce('Tags saved');
      onSaved();
      onClose();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <Dialog title={`Tags of ${model.name}`} onClose={onClose}>
      <form onSubmit={save} class="stack">
        {rows.map((r, i) => (
          <div class="row tag-row" key={i}>
            <div class="field">
              <label for={`tag-key-${i}`}>Key {i + 1}</label>
              <input id={`tag-key-${i}`} value={r.key} maxLength={127} onInput={(e) => update(i, 'key', e.currentTarget.value)} />
            </div>
            <div class="field">
              <label for={`tag-value-${i}`}>Value {i + 1}</label>
              <input id={`tag-value-${i}`} value={r.value} maxLength={255} onInput={(e) => update(i, 'value', e.currentTarget.value)} />
            </div>
            <button type="button" class="small" aria-label={`Remove tag ${i + 1}`} onClick={() => setRows(rows.filter((_, j) => j !== i))}>
              Remove
            </button>
          </div>
        ))}
        <button type="button" class="small" onClick={() => setRows([...rows, { key: '', value: '' }])}>
          Add tag
        </button>
        <div class="field">
          <label for="tags-reason">Reason (recorded in the history)</label>
          <input id="tags-reason" value={reason} onInput={(e) => setReason(e.currentTarget.value)} />
        </div>
        <ErrorText error={error} />
        <div class="actions">
          <button type="button" onClick={onClose}>Cancel</button>
          <button type="submit" class="primary">Save tags</button>
        </div>
      </form>
    </Dialog>
  );
}

function DeleteDialog({ model, onClose }) {
  const services = [];
  for (const v of model.versions.nodes) {
    for (const s of v.associatedServices) services.push({ ...s, version: v.name });
  }
  const [confirm, setConfirm] = useState('');
  const [error, setError] = useState(null);
  const remove = async (e) => {
    e.preventDefault();
    try {
      const data = await gql(DELETE, { id: model.id, force: services.length > 0, reason: null });
      const r = data.deleteModel;
      if (r.__typename !== 'DeleteModelSuccess') throw new Error(r.message);
      announce(`Deleted ${model.name} and ${r.deletedVersions} version(s)`);
      navigate('/models');
    } catch (err) {
      setError(err);
    }
  };
  return (
    <Dialog title={`Delete ${model.name}?`} onClose={onClose}>
      <form onSubmit={remove} class="stack">
        {services.length ? (
          <div class="warning">
            <p>These services deploy its versions; deleting removes the versions from them first:</p>
            <ul>
              {services.map((s) => (
                <li key={s.id + s.version}>
                  <Link href={`/services/${s.id}`}>{s.name}</Link> ({s.status.toLowerCase()}) uses {s.version}
                </li>
              ))}
            </ul>
          </div>
        ) : (
          <p>No service uses this model.</p>
        )}
        <p>All {model.versionCount} version(s) will be deleted. The history is kept.</p>
        <div class="field">
          <label for="confirm-name">Type the model's name to confirm</label>
          <input id="confirm-name" value={confirm} onInput={(e) => setConfirm(e.currentTarget.value)} />
        </div>
        <ErrorText error={error} />
        <div class="actions">
          <button type="button" onClick={onClose}>Cancel</button>
          <button type="submit" class="danger" disabled={confirm !== model.name}>Delete model</button>
        </div>
      </form>
    </Dialog>
  );
}

export function ModelPage({ id, me }) {
  const { query } = useLocation();
  const tab = query.get('tab') || 'versions';
  const asOf = query.get('asOf');
  const [dialog, setDialog] = useState(null);
  const { data, error, loading, reload } = useAsync(() => gql(MODEL, { id }), [id]);
  const model = data?.model;
  const editor = me.role !== 'VIEWER';
  if (loading && !data) return <Loading what="Loading the model" />;
  if (error) return <ErrorText error={error} />;
  if (!model) return <h1>No such model</h1>;
  return (
    <section>
      <p class="crumbs">
        <Link href={model.list === 'OPTIMIZED' ? '/models?list=OPTIMIZED' : '/models'}>Models</Link> /
      </p>
      <div class="page-head">
        <h1>{model.name}</h1>
        {editor && (
          <div class="actions">
            <button type="button" class="primary" onClick={() => setDialog('import')}>New version</button>
            <button type="button" onClick={() => setDialog('tags')}>Edit tags</button>
            <button type="button" class="danger" onClick={() => setDialog('delete')}>Delete</button>
          </div>
        )}
      </div>
      <p>{model.description || <span class="muted">No description.</span>}</p>
      <dl class="facts">
        <dt>List</dt><dd>{model.list.toLowerCase()}</dd>
        <dt>Versions</dt><dd>{model.versionCount}</dd>
        <dt>Created</dt><dd>{when(model.createdAt)} by {model.createdBy || '—'}</dd>
        <dt>Tags</dt>
        <dd>
          {model.tags.length ? model.tags.map((t) => <span class="tag" key={t.key}>{t.key}{t.value && `=${t.value}`}</span>) : <span class="muted">none</span>}
        </dd>
      </dl>
      <Tabs
        label="Model sections"
        tabs={[['versions', 'Versions'], ['history', 'History'], ['asof', 'As of']]}
        current={tab}
        onSelect={(t) => setQuery({ tab: t === 'versions' ? null : t })}
      />
      {tab === 'versions' && (
        <TabPanel name="versions">
          <table class="list versions" aria-label="Versions">
            <thead>
              <tr>
                <th scope="col">Version</th>
                <th scope="col">Format</th>
                <th scope="col">Runtime</th>
                <th scope="col">Metrics</th>
                <th scope="col">Status</th>
                <th scope="col">Services</th>
                <th scope="col"><span class="sr-only">Details</span></th>
              </tr>
            </thead>
            {model.versions.nodes.map((v) => (
              <VersionRow key={v.id} model={model} version={v} editor={editor} onChanged={reload} />
            ))}
          </table>
        </TabPanel>
      )}
      {tab === 'history' && (
        <TabPanel name="history">
          <HistoryTab
            targets={[{ id: model.id, label: `model ${model.name}` }, ...model.versions.nodes.map((v) => ({ id: v.id, label: `version ${v.name}` }))]}
            onAsOf={(at) => setQuery({ tab: 'asof', asOf: at })}
          />
        </TabPanel>
      )}
      {tab === 'asof' && (
        <TabPanel name="asof">
          <AsOfView key={asOf || 'now'} modelId={model.id} at={asOf} onChange={(at) => setQuery({ asOf: at })} />
        </TabPanel>
      )}
      {dialog === 'import' && <ImportDialog model={model} onClose={() => setDialog(null)} onDone={reload} />}
      {dialog === 'tags' && <TagsDialog model={model} onClose={() => setDialog(null)} onSaved={reload} />}
      {dialog === 'delete' && <DeleteDialog model={model} onClose={() => setDialog(null)} />}
    </section>
  );
}

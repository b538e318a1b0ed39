// One version row of a model, expandable to its files, services and actions.
import { useState } from 'preact/hooks';
import { download, gql } from '../api.js';
import { Link, navigate } from '../router.jsx';
import { Badge, Dialog, ErrorText, Loading, announce, bytes, useAsync, when } from '../ui.jsx';
import { OptimizeDialog, Report, methodsFor } from './optimize.jsx';

const FILES = `query($id: ID!) {
  modelVersion(id: $id) {
    id files { path size sha256 downloadUrl }
    optimizedFrom { id name model { id name } }
    optimizationReport { latencyP50MsBefore latencyP50MsAfter speedup sizeBefore sizeAfter samples maxAbsDiff top1Agreement input }
    fileSets { revision state size fileCount createdAt }
  }
}`;
const DELETE_VERSION = `mutation($id: ID!, $force: Boolean!) {
  deleteModelVersion(versionId: $id, force: $force) {
    __typename ... on InUse { message services } ... on Error { message }
  }
}`;

function Files({ version }) {
  const { data, error, loading } = useAsync(() => gql(FILES, { id: version.id }), [version.id]);
  const [failed, setFailed] = useState(null);
  const get = (path, url) => download(version.id, path, url).catch(setFailed);
  if (loading) return <Loading what="Loading files" />;
  const files = data?.modelVersion?.files || [];
  const from = data?.modelVersion?.optimizedFrom;
  const report = data?.modelVersion?.optimizationReport;
  return (
    <>
      <ErrorText error={error || failed} />
      {from && (
        <p>
          Optimized from <Link href={`/models/${from.model.id}`}>{from.model.name} {from.name}</Link>.
        </p>
      )}
      {report && <Report report={report} />}
      {files.length === 0 ? (
        <p class="muted">No files (registered by reference).</p>
      ) : (
        <table class="list compact" aria-label={`Files of ${version.name}`}>
          <thead>
            <tr>
              <th scope="col">Path</th>
              <th scope="col">Size</th>
              <th scope="col">SHA-256</th>
              <th scope="col"><span class="sr-only">Download</span></th>
            </tr>
          </thead>
          <tbody>
            {files.map((f) => (
              <tr key={f.path}>
                <td><code>{f.path}</code></td>
                <td>{bytes(f.size)}</td>
                <td><code class="hash" title={f.sha256}>{f.sha256.slice(0, 16)}…</code></td>
                <td>
                  <button type="button" class="small" onClick={() => get(f.path, f.downloadUrl)} aria-label={`Download ${f.path}`}>
                    Download
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

function DeleteVersionDialog({ version, onClose, onDeleted }) {
  const [error, setError] = useState(null);
  const services = version.associatedServices;
  const remove = async () => {
    try {
      const data = await gql(DELETE_VERSION, { id: version.id, force: services.length > 0 });
      const r = data.deleteModelVersion;
      if (r.__typename !== 'DeleteVersionSuccess') throw new Error(r.message);
      announce(`Deleted ${version.name}`);
      onDeleted();
      onClose();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <Dialog title={`Delete ${version.name}?`} onClose={onClose}>
      <div class="stack">
        {services.length ? (
          <div class="warning">
            <p>These services deploy {version.name}; deleting removes it from them first:</p>
            <ul>
              {services.map((s) => (
                <li key={s.id}>
                  <Link href={`/services/${s.id}`}>{s.name}</Link> ({s.status.toLowerCase()})
                </li>
              ))}
            </ul>
          </div>
        ) : (
          <p>No service uses {version.name}. Its number is never reused.</p>
        )}
        <ErrorText error={error} />
        <div class="actions">
          <button type="button" onClick={onClose}>Cancel</button>
          <button type="button" class="danger" onClick={remove}>Delete version</button>
        </div>
      </div>
    </Dialog>
  );
}

export function VersionRow({ model, version: v, editor, onChanged }) {
  const [open, setOpen] = useState(false);
  const [deleting, setDeleting] = useState(false);
  const [optimizing, setOptimizing] = useState(false);
  const [failed, setFailed] = useState(null);
  const detailId = `version-${v.id}`;
  const ready = v.status === 'READY';
  return (
    <tbody>
      <tr>
        <th scope="row">{v.name}</th>
        <td>{v.format}</td>
        <td>{v.runtime}</td>
        <td>{v.metrics.map((m) => `${m.name}=${m.value}`).join(', ') || '—'}</td>
        <td><Badge value={v.status} /></td>
        <td>
          {v.associatedServices.length
            ? v.associatedServices.map((s) => (
                <Link key={s.id} class="tag" href={`/services/${s.id}`}>{s.name}</Link>
              ))
            : '—'}
        </td>
        <td>
          <button type="button" class="small" aria-expanded={open} aria-controls={detailId} onClick={() => setOpen(!open)}>
            {open ? 'Hide' : 'Details'}
          </button>
        </td>
      </tr>
      {open && (
        <tr id={detailId} class="detail">
          <td colSpan={7}>
            <dl class="facts">
              <dt>Framework</dt><dd>{v.framework || '—'}</dd>
              <dt>Source</dt><dd>{v.source.kind}{v.source.uri && ` · ${v.source.uri}`}{v.source.mode && ` (${v.source.mode})`}</dd>
              <dt>Size</dt><dd>{bytes(v.size)} in {v.fileCount} file(s)</dd>
              <dt>Stored at</dt><dd><code>{v.storageUri || '—'}</code></dd>
              <dt>Created</dt><dd>{when(v.createdAt)} by {v.createdBy || '—'}</dd>
              {v.description && (<><dt>Description</dt><dd>{v.description}</dd></>)}
              {v.failure && (<><dt>Failure</dt><dd class="error">{v.failure}</dd></>)}
            </dl>
            <h3>Files</h3>
            <Files version={v} />
            <ErrorText error={failed} />
            <div class="actions">
              {v.downloadUrl && (
                <button type="button" onClick={() => download(v.id).catch(setFailed)}>
                  Download {v.name}
                </button>
              )}
              {editor && ready && (
                <button type="button" onClick={() => navigate(`/services?publish=${v.id}`)}>Publish as a service</button>
              )}
              {editor && ready && (
                <button type="button" onClick={() => navigate(`/jobs?create=${v.id}`)}>New batch job</button>
              )}
              {editor && ready && methodsFor(v.format).length > 0 && (
                <button type="button" onClick={() => setOptimizing(true)}>Optimize</button>
              )}
              {editor && (
                <button type="button" class="danger" onClick={() => setDeleting(true)}>Delete {v.name}</button>
              )}
            </div>
            {optimizing && <OptimizeDialog model={model} version={v} onClose={() => setOptimizing(false)} />}
            {deleting && <DeleteVersionDialog version={v} onClose={() => setDeleting(false)} onDeleted={onChanged} />}
          </td>
        </tr>
      )}
    </tbody>
  );
}

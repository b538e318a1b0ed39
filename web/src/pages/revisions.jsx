// Upgrade (partial: the new version runs beside the others at 0%; full: it takes over) and
// rollback to any earlier revision.
import { useState } from 'preact/hooks';
import { gql } from '../api.js';
import { ErrorText, TextInput, announce, when } from '../ui.jsx';
import { VersionPicker } from './services.jsx';

const UPGRADE = `mutation($id: ID!, $to: DeployVersionInput!, $instances: Int) {
  upgradeService(serviceId: $id, toVersion: $to, instances: $instances) { __typename ... on Error { message } }
}`;
const ROLLBACK = `mutation($id: ID!, $revision: Int) {
  rollbackService(serviceId: $id, revision: $revision) { __typename ... on Error { message } }
}`;

function Upgrade({ service, onChanged }) {
  const [version, setVersion] = useState(null);
  const [mode, setMode] = useState('partial');
  const [instances, setInstances] = useState('1');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const n = Number(instances);
      const data = await gql(UPGRADE, {
        id: service.id,
        to: { versionId: version.id, instances: n },
        instances: mode === 'partial' ? n : null,
      });
      if (data.upgradeService.__typename !== 'ServicePayload') throw new Error(data.upgradeService.message);
      announce(mode === 'partial' ? `${version.name} added at 0% traffic` : `Upgraded to ${version.name}`);
      setVersion(null);
      onChanged();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={submit} class="stack card">
      <h2>Upgrade</h2>
      <VersionPicker value={version?.id} onChange={setVersion} exclude={service.deployments.map((d) => d.versionId)} />
      <fieldset>
        <legend>How</legend>
        <div class="radios">
          <label>
            <input type="radio" name="upgrade-mode" checked={mode === 'partial'} onChange={() => setMode('partial')} /> Partial: add beside the current versions at 0% traffic
          </label>
          <label>
            <input type="radio" name="upgrade-mode" checked={mode === 'full'} onChange={() => setMode('full')} /> Full: replace them and take all traffic
          </label>
        </div>
      </fieldset>
      <TextInput label="Instances" type="number" min="1" value={instances} onInput={setInstances} />
      <ErrorText error={error} />
      <div class="actions">
        <button type="submit" class="primary" disabled={!version || busy}>{busy ? 'Upgrading…' : 'Upgrade'}</button>
      </div>
    </form>
  );
}

export function Revisions({ service, editor, onChanged }) {
  const [error, setError] = useState(null);
  const rollback = async (revision) => {
    setError(null);
    try {
      const data = await gql(ROLLBACK, { id: service.id, revision });
      if (data.rollbackService.__typename !== 'ServicePayload') throw new Error(data.rollbackService.message);
      announce(`Rolled back to revision ${revision}`);
      onChanged();
    } catch (err) {
      setError(err);
    }
  };
  const revisions = [...service.revisions].reverse();
  return (
    <div class="stack">
      {editor && <Upgrade service={service} onChanged={onChanged} />}
      <h2>Revisions</h2>
      <ErrorText error={error} />
      <table class="list" aria-label="Revisions">
        <thead>
          <tr>
            <th scope="col">Revision</th>
            <th scope="col">Change</th>
            <th scope="col">Versions and traffic</th>
            <th scope="col">When</th>
            <th scope="col"><span class="sr-only">Rollback</span></th>
          </tr>
        </thead>
        <tbody>
          {revisions.map((r) => (
            <tr key={r.revision}>
              <td>{r.revision}{r.revision === service.revision && <span class="muted"> (current)</span>}</td>
              <td>{r.kind}{r.restoredRevision ? ` of ${r.restoredRevision}` : ''}</td>
              <td>{r.deployments.map((d) => `V${d.versionNumber} ${d.trafficPercent}% ×${d.instances}`).join(', ')}</td>
              <td>{when(r.createdAt)} by {r.createdBy}</td>
              <td>
                {editor && r.revision !== service.revision && (
                  <button type="button" class="small" onClick={() => rollback(r.revision)}>Roll back to {r.revision}</button>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

// The history of one object (who did what, when) from the event log, and the "as of" view
// that rebuilds a model at a chosen past moment.
import { useState } from 'preact/hooks';
import { gql } from '../api.js';
import { Badge, Empty, ErrorText, Loading, useAsync, when } from '../ui.jsx';
import { AsOfPicker } from './asof.jsx';

const HISTORY = `query($id: ID!, $after: String) {
  history(aggregateId: $id, first: 100, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { position aggregateType aggregateVersion type actor recordedAt reason requestId payload }
  }
}`;

export function HistoryTab({ targets, onAsOf = null }) {
  const [chosen, setChosen] = useState(targets[0].id);
  const target = targets.find((t) => t.id === chosen) || targets[0];
  const { data, error, loading } = useAsync(() => gql(HISTORY, { id: target.id }), [target.id]);
  const events = data?.history.nodes || [];
  return (
    <div>
      {targets.length > 1 && (
        <div class="field inline">
          <label for="history-of">History of</label>
          <select id="history-of" value={chosen} onChange={(e) => setChosen(e.currentTarget.value)}>
            {targets.map((t) => (
              <option key={t.id} value={t.id}>
                {t.label}
              </option>
            ))}
          </select>
        </div>
      )}
      <ErrorText error={error} />
      {loading && !data ? (
        <Loading what="Loading history" />
      ) : events.length === 0 ? (
        <Empty>No events.</Empty>
      ) : (
        <table class="list history" aria-label={`History of ${target.label}`}>
          <thead>
            <tr>
              <th scope="col">When</th>
              <th scope="col">Who</th>
              <th scope="col">What</th>
              <th scope="col">Reason</th>
              <th scope="col">Details</th>
              {onAsOf && <th scope="col"><span class="sr-only">As of</span></th>}
            </tr>
          </thead>
          <tbody>
            {events.map((e) => (
              <tr key={e.position}>
                <td>
                  <time dateTime={e.recordedAt}>{when(e.recordedAt)}</time>
                </td>
                <td>{e.actor}</td>
                <td>
                  <strong>{e.type}</strong>
                  <div class="muted small-text">
                    {e.aggregateType} v{e.aggregateVersion}
                  </div>
                </td>
                <td>{e.reason || <span class="muted">—</span>}</td>
                <td>
                  <details>
                    <summary>Data</summary>
                    <pre>{JSON.stringify(e.payload, null, 2)}</pre>
                  </details>
                </td>
                {onAsOf && (
                  <td>
                    <button type="button" class="small" onClick={() => onAsOf(e.recordedAt)}>
                      View as of this
                    </button>
                  </td>
                )}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}

const MODEL_AS_OF = `query($id: ID!, $asOf: DateTime!) {
  model(id: $id, asOf: $asOf) {
    name description deleted asOf lastVersionNumber
    tags { key value }
    versions(first: 100) { nodes { id name format framework runtime status createdAt metrics { name value } } }
  }
}`;

export function AsOfView({ modelId, at, onChange }) {
  return (
    <AsOfPicker what="model" id={modelId} at={at} onChange={onChange} query={MODEL_AS_OF} field="model">
      {(model) => (
        <>
          <h3>
            {model.name} <span class="muted">as of {when(model.asOf)}</span>
            {model.deleted && <Badge value="deleted" />}
          </h3>
          <p>{model.description || <span class="muted">No description.</span>}</p>
          <p>
            Tags:{' '}
            {model.tags.length ? (
              model.tags.map((t) => (
                <span class="tag" key={t.key}>
                  {t.key}={t.value}
                </span>
              ))
            ) : (
              <span class="muted">none</span>
            )}
          </p>
          <table class="list" aria-label="Versions as of then">
            <thead>
              <tr>
                <th scope="col">Version</th>
                <th scope="col">Format</th>
                <th scope="col">Runtime</th>
                <th scope="col">Status</th>
                <th scope="col">Metrics</th>
                <th scope="col">Created</th>
              </tr>
            </thead>
            <tbody>
              {model.versions.nodes.map((v) => (
                <tr key={v.id}>
                  <td>{v.name}</td>
                  <td>{v.format}</td>
                  <td>{v.runtime}</td>
                  <td>
                    <Badge value={v.status} />
                  </td>
                  <td>{v.metrics.map((m) => `${m.name}=${m.value}`).join(', ') || '—'}</td>
                  <td>{when(v.createdAt)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </AsOfPicker>
  );
}

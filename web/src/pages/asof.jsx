// "As of" views: an object rebuilt from the event log at a chosen past moment (the API's
// asOf argument). The picker is shared; each kind of object renders its own card.
import { useState } from 'preact/hooks';
import { gql } from '../api.js';
import { Badge, Empty, ErrorText, Loading, useAsync, when } from '../ui.jsx';
import { progressText } from './jobs.jsx';

// datetime-local works in local time without a zone; the API wants an offset.
function toLocalInput(iso) {
  const d = new Date(iso);
  const pad = (n) => String(n).padStart(2, '0');
  const ms = String(d.getMilliseconds()).padStart(3, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${ms}`;
}

// Loads `query` with { id, asOf: at } when a moment is chosen and renders `children(data)`.
export function AsOfPicker({ what, id, at, onChange, query, field, children }) {
  const [text, setText] = useState(toLocalInput(at || new Date().toISOString()));
  const { data, error, loading } = useAsync(
    () => (at ? gql(query, { id, asOf: at }) : Promise.resolve(null)),
    [id, at],
  );
  const submit = (e) => {
    e.preventDefault();
    const d = new Date(text);
    if (Number.isNaN(d.getTime())) return;
    // A time given to the second means the end of that second; one given to the
    // millisecond means the end of that millisecond (the log keeps microseconds).
    const precise = /\.\d+$/.test(text);
    onChange(new Date(d.getTime() + (precise ? 1 : 999)).toISOString());
  };
  const found = data?.[field];
  return (
    <div>
      <form class="filters" onSubmit={submit}>
        <div class="field">
          <label for="as-of">{`Show the ${what} as it was at`}</label>
          <input id="as-of" type="datetime-local" step="0.001" value={text} onInput={(e) => setText(e.currentTarget.value)} />
        </div>
        <button type="submit">Show</button>
      </form>
      <ErrorText error={error} />
      {loading && at && <Loading what="Rebuilding from the event log" />}
      {at && !loading && !found && !error && <Empty>{`The ${what} did not exist yet at ${when(at)}.`}</Empty>}
      {found && (
        <article class="card asof" aria-live="polite">
          {children(found)}
        </article>
      )}
    </div>
  );
}

const SERVICE_AS_OF = `query($id: ID!, $asOf: DateTime!) {
  service(id: $id, asOf: $asOf) {
    name status statusReason revision deleted asOf
    deployments { versionId versionNumber trafficPercent instances cpu memoryMb version { model { name } } }
    revisions { revision kind restoredRevision createdAt createdBy }
  }
}`;

export function ServiceAsOf({ serviceId, at, onChange }) {
  return (
    <AsOfPicker what="service" id={serviceId} at={at} onChange={onChange} query={SERVICE_AS_OF} field="service">
      {(s) => (
        <>
          <h3>
            {s.name} <span class="muted">as of {when(s.asOf)}</span> <Badge value={s.deleted ? 'deleted' : s.status} />
          </h3>
          {s.statusReason && <p class="warning">{s.statusReason}</p>}
          <p>Revision {s.revision}</p>
          <table class="list" aria-label="Deployments as of then">
            <thead>
              <tr>
                <th scope="col">Version</th>
                <th scope="col">Traffic</th>
                <th scope="col">Instances</th>
                <th scope="col">Resources</th>
              </tr>
            </thead>
            <tbody>
              {s.deployments.map((d) => (
                <tr key={d.versionId}>
                  <td>{d.version?.model?.name || 'deleted model'} V{d.versionNumber}</td>
                  <td>{d.trafficPercent}%</td>
                  <td>{d.instances}</td>
                  <td>{d.cpu} CPU, {d.memoryMb} MB</td>
                </tr>
              ))}
            </tbody>
          </table>
          <h4>Revisions until then</h4>
          <ol class="inline-list" aria-label="Revisions as of then">
            {s.revisions.map((r) => (
              <li key={r.revision}>
                {r.revision}: {r.kind}
                {r.restoredRevision ? ` of ${r.restoredRevision}` : ''} by {r.createdBy}, {when(r.createdAt)}
              </li>
            ))}
          </ol>
        </>
      )}
    </AsOfPicker>
  );
}

const JOB_AS_OF = `query($id: ID!, $asOf: DateTime!) {
  batchJob(id: $id, asOf: $asOf) {
    name status asOf schedule steps spec
    runs(last: 50) { id scheduledAt trigger status attempt progress result reason }
  }
}`;

export function JobAsOf({ jobId, at, onChange }) {
  return (
    <AsOfPicker what="job" id={jobId} at={at} onChange={onChange} query={JOB_AS_OF} field="batchJob">
      {(j) => (
        <>
          <h3>
            {j.name} <span class="muted">as of {when(j.asOf)}</span> <Badge value={j.status} />
          </h3>
          <dl class="facts">
            <dt>Output</dt><dd><code>{j.spec.output_uri}</code></dd>
            <dt>Schedule</dt><dd>{j.schedule.kind === 'PERIODIC' ? j.schedule.expression : 'once'}</dd>
            <dt>Steps</dt>
            <dd>{j.steps.length ? j.steps.map((s) => s.kind).join(' → ') : 'none'}</dd>
          </dl>
          {j.runs.length === 0 ? (
            <p class="muted">No runs yet then.</p>
          ) : (
            <table class="list" aria-label="Runs as of then">
              <thead>
                <tr>
                  <th scope="col">Scheduled</th>
                  <th scope="col">Trigger</th>
                  <th scope="col">Status</th>
                  <th scope="col">Progress</th>
                </tr>
              </thead>
              <tbody>
                {j.runs.map((r) => (
                  <tr key={r.id}>
                    <td>{when(r.scheduledAt)}</td>
                    <td>{r.trigger}</td>
                    <td><Badge value={r.status} /></td>
                    <td>{progressText(r.progress, r.result)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </AsOfPicker>
  );
}

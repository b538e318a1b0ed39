// One batch job: its spec and steps, runs with live status and details, actions, history.
import { useRef, useState } from 'preact/hooks';
import { gql } from '../api.js';
import { Link, navigate, setQuery, useLocation } from '../router.jsx';
import { Badge, ErrorText, Loading, TabPanel, Tabs, announce, useAsync, when } from '../ui.jsx';
import { JobAsOf } from './asof.jsx';
import { HistoryTab } from './history.jsx';
import { progressText } from './jobs.jsx';
import { useJobUpdates } from './live.js';

const JOB = `query($id: ID!) {
  batchJob(id: $id) {
    id name versionId spec schedule steps paused status createdAt createdBy
    runs(last: 50) { id scheduledAt trigger status attempt progress result reason updatedAt }
  }
}`;
const ACTION = (verb, arg = 'jobId') => `mutation($id: ID!) { ${verb}(${arg}: $id) { __typename ... on Error { message } } }`;

function RunsTable({ runs, live }) {
  const [open, setOpen] = useState(null);
  if (!runs.length) return <p class="muted">No runs yet.</p>;
  return (
    <table class="list" aria-label="Runs">
      <thead>
        <tr>
          <th scope="col">Scheduled</th>
          <th scope="col">Trigger</th>
          <th scope="col">Status</th>
          <th scope="col">Progress</th>
          <th scope="col">Attempt</th>
          <th scope="col"><span class="sr-only">Details</span></th>
        </tr>
      </thead>
      {runs.map((r) => {
        const now = { ...r, ...(live[r.id] || {}) };
        return (
          <tbody key={r.id}>
            <tr>
              <td>{when(r.scheduledAt)}</td>
              <td>{r.trigger}</td>
              <td aria-live="polite" data-testid="run-status"><Badge value={now.status} /></td>
              <td>{progressText(now.progress, now.result)}</td>
              <td>{now.attempt}</td>
              <td>
                <button type="button" class="small" aria-expanded={open === r.id} onClick={() => setOpen(open === r.id ? null : r.id)}>
                  {open === r.id ? 'Hide' : 'Run details'}
                </button>
              </td>
            </tr>
            {open === r.id && (
              <tr class="detail">
                <td colSpan={6}>
                  <dl class="facts">
                    <dt>Run id</dt><dd><code>{r.id}</code></dd>
                    <dt>Updated</dt><dd>{when(now.updatedAt)}</dd>
                    {now.reason && (<><dt>Reason</dt><dd class="error">{now.reason}</dd></>)}
                  </dl>
                  <h3>Result</h3>
                  <pre data-testid="run-result">{JSON.stringify(now.result, null, 2)}</pre>
                  <h3>Progress</h3>
                  <pre>{JSON.stringify(now.progress, null, 2)}</pre>
                </td>
              </tr>
            )}
          </tbody>
        );
      })}
    </table>
  );
}

export function JobPage({ id, me }) {
  const { query } = useLocation();
  const tab = query.get('tab') || 'runs';
  const asOf = query.get('asOf');
  const editor = me.role !== 'VIEWER';
  const { data, error, loading, reload } = useAsync(() => gql(JOB, { id }), [id]);
  const [live, setLive] = useState({});
  const [failed, setFailed] = useState(null);
  const known = useRef(new Set());
  data?.batchJob?.runs.forEach((r) => known.current.add(r.id));
  const state = useJobUpdates(id, (u) => {
    if (!u.runId) return;
    if (!known.current.has(u.runId)) {
      known.current.add(u.runId);
      reload();
      return;
    }
    setLive((prev) => {
      const before = prev[u.runId] || {};
      const next = { ...before };
      if (u.status) next.status = u.status;
      if (u.data.progress) next.progress = u.data.progress;
      if (u.data.result) next.result = u.data.result;
      if (u.data.reason) next.reason = u.data.reason;
      if (u.data.attempt) next.attempt = u.data.attempt;
      return { ...prev, [u.runId]: next };
    });
  });
  const job = data?.batchJob;
  if (loading && !data) return <Loading what="Loading the job" />;
  if (error) return <ErrorText error={error} />;
  if (!job) return <h1>No such batch job</h1>;
  const act = async (verb, arg, target = id) => {
    setFailed(null);
    try {
      const d = await gql(ACTION(verb, arg), { id: target });
      const r = d[verb];
      if (!['BatchJobPayload', 'BatchRunPayload'].includes(r.__typename)) throw new Error(r.message);
      announce(`${verb.replace(/[A-Z].*/, '')}: done`);
      if (verb === 'deleteBatchJob') navigate('/jobs');
      else reload();
    } catch (err) {
      setFailed(err);
    }
  };
  const running = job.runs.find((r) => ['PENDING', 'RUNNING'].includes((live[r.id] || r).status));
  return (
    <section>
      <p class="crumbs"><Link href="/jobs">Batch jobs</Link> /</p>
      <div class="page-head">
        <h1>{job.name}</h1>
        <Badge value={job.status} />
        <span class="muted small-text" aria-live="polite">live: {state}</span>
        {editor && (
          <div class="actions">
            <button type="button" onClick={() => act('triggerBatchJob')}>Run now</button>
            {job.paused ? (
              <button type="button" onClick={() => act('resumeBatchJob')}>Resume</button>
            ) : (
              <button type="button" onClick={() => act('pauseBatchJob')}>Pause</button>
            )}
            {running && <button type="button" onClick={() => act('cancelBatchRun', 'runId', running.id)}>Cancel run</button>}
            <button type="button" class="danger" onClick={() => window.confirm(`Delete ${job.name}?`) && act('deleteBatchJob')}>Delete</button>
          </div>
        )}
      </div>
      <ErrorText error={failed} />
      <dl class="facts">
        <dt>Input</dt><dd><code>{job.spec.input_uri}</code> ({job.spec.input_format})</dd>
        <dt>Output</dt><dd><code>{job.spec.output_uri}</code> ({job.spec.output_format})</dd>
        <dt>Schedule</dt><dd>{job.schedule.kind === 'PERIODIC' ? `${job.schedule.expression} (${job.schedule.time_zone})` : 'once'}</dd>
        <dt>Steps</dt>
        <dd>{job.steps.length ? <ol class="inline-list">{job.steps.map((s, i) => <li key={i}><code>{JSON.stringify(s)}</code></li>)}</ol> : 'none'}</dd>
        <dt>Created</dt><dd>{when(job.createdAt)} by {job.createdBy}</dd>
      </dl>
      <Tabs label="Job sections" tabs={[['runs', 'Runs'], ['history', 'History'], ['asof', 'As of']]} current={tab} onSelect={(t) => setQuery({ tab: t === 'runs' ? null : t, asOf: null })} />
      {tab === 'runs' && <TabPanel name="runs"><RunsTable runs={job.runs} live={live} /></TabPanel>}
      {tab === 'history' && (
        <TabPanel name="history">
          <HistoryTab
            targets={[{ id: job.id, label: `job ${job.name}` }, ...job.runs.map((r) => ({ id: r.id, label: `run of ${when(r.scheduledAt)}` }))]}
            onAsOf={(at) => setQuery({ tab: 'asof', asOf: at })}
          />
        </TabPanel>
      )}
      {tab === 'asof' && (
        <TabPanel name="asof">
          <JobAsOf key={asOf || 'now'} jobId={job.id} at={asOf} onChange={(at) => setQuery({ asOf: at })} />
        </TabPanel>
      )}
    </section>
  );
}

// Batch jobs: the list, each row following its job's live status.
import { useRef, useState } from 'preact/hooks';
import { gql } from '../api.js';
import { Link, setQuery, useLocation } from '../router.jsx';
import { Badge, Empty, ErrorText, Loading, useAsync, when } from '../ui.jsx';
import { JobWizard } from './jobwizard.jsx';
import { useJobUpdates } from './live.js';

const JOBS = `query($after: String) {
  batchJobs(first: 20, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { id name status paused schedule createdAt runs(last: 1) { id status progress result reason updatedAt } }
  }
}`;

export function progressText(progress, result) {
  const shown = result && Object.keys(result).length ? result : progress;
  if (!shown) return '';
  const parts = [];
  for (const key of ['rows', 'skipped', 'chunks', 'parts']) {
    if (shown[key] !== undefined) parts.push(`${shown[key]} ${key}`);
  }
  return parts.join(', ');
}

function JobRow({ job }) {
  const last = job.runs[0] || null;
  const [live, setLive] = useState(last ? { status: last.status, text: progressText(last.progress, last.result), reason: last.reason } : null);
  const latestRun = useRef(last?.id || null);
  useJobUpdates(job.id, (u) => {
    if (!u.runId) return;
    if (u.event === 'Created') latestRun.current = u.runId;
    if (u.runId !== latestRun.current) return;
    setLive((prev) => ({
      status: u.status || prev?.status || 'PENDING',
      text: progressText(u.data.progress, u.data.result) || prev?.text || '',
      reason: u.data.reason || '',
    }));
  });
  return (
    <tr>
      <td><Link href={`/jobs/${job.id}`}>{job.name}</Link></td>
      <td><Badge value={job.status} /></td>
      <td>{job.schedule.kind === 'PERIODIC' ? job.schedule.expression : 'once'}</td>
      <td aria-live="polite" data-testid={`job-status-${job.name}`}>
        {live ? (
          <>
            <Badge value={live.status} /> {live.text}
            {live.reason && <div class="error small-text">{live.reason}</div>}
          </>
        ) : (
          <span class="muted">no runs yet</span>
        )}
      </td>
      <td>{when(job.createdAt)}</td>
    </tr>
  );
}

export function JobsPage({ me }) {
  const { query } = useLocation();
  const creating = query.get('create');
  const [cursors, setCursors] = useState([null]);
  const after = cursors[cursors.length - 1];
  const { data, error, loading, reload } = useAsync(() => gql(JOBS, { after }), [after]);
  const jobs = data?.batchJobs.nodes || [];
  return (
    <section>
      <div class="page-head">
        <h1>Batch jobs</h1>
        {me.role !== 'VIEWER' && (
          <button type="button" class="primary" onClick={() => setQuery({ create: 'new' })}>Create a batch job</button>
        )}
      </div>
      <ErrorText error={error} />
      {loading && !data ? (
        <Loading what="Loading jobs" />
      ) : jobs.length === 0 ? (
        <Empty>No batch jobs yet.</Empty>
      ) : (
        <table class="list" aria-label="Batch jobs">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Job</th>
              <th scope="col">Schedule</th>
              <th scope="col">Latest run (live)</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {jobs.map((j) => <JobRow key={j.id} job={j} />)}
          </tbody>
        </table>
      )}
      <nav class="pager" aria-label="Pages">
        <button type="button" disabled={cursors.length < 2} onClick={() => setCursors(cursors.slice(0, -1))}>Previous</button>
        <span>Page {cursors.length}</span>
        <button type="button" disabled={!data?.batchJobs.pageInfo.hasNextPage} onClick={() => setCursors([...cursors, data.batchJobs.pageInfo.endCursor])}>Next</button>
      </nav>
      {creating && (
        <JobWizard
          initialVersion={creating === 'new' ? null : creating}
          onClose={() => setQuery({ create: null })}
          onCreated={() => {
            setQuery({ create: null });
            reload();
          }}
        />
      )}
    </section>
  );
}

// Batch jobs: the list. The rows whose status can still change follow it live (at most
// MAX_LIVE subscriptions, all on one websocket); the page re-reads the others now and then.
import { useEffect, useRef, useState } from 'preact/hooks';
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

export const MAX_LIVE = 8;
const REFRESH_MS = 15000;
const ACTIVE = ['PENDING', 'RUNNING'];

// Which jobs get a live subscription: running ones first, then those whose schedule can
// still create runs, then the rest in list order; at most MAX_LIVE.
export function liveJobs(jobs) {
  const rank = (j) => {
    const last = j.runs[0];
    if (last && ACTIVE.includes(last.status)) return 0;
    if (!j.paused && (j.schedule.kind === 'PERIODIC' || !last)) return 1;
    return 2;
  };
  const ordered = jobs.map((j, i) => [rank(j), i, j.id]).sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  return new Set(ordered.slice(0, MAX_LIVE).map((x) => x[2]));
}

function snapshot(run) {
  return run ? { status: run.status, text: progressText(run.progress, run.result), reason: run.reason } : null;
}

function JobRow({ job, following }) {
  const last = job.runs[0] || null;
  const [live, setLive] = useState(snapshot(last));
  const latestRun = useRef(last?.id || null);
  // Not followed: show what the list query read (it is re-read every REFRESH_MS).
  useEffect(() => {
    if (!following) {
      setLive(snapshot(last));
      latestRun.current = last?.id || null;
    }
  }, [following, last?.id, last?.status, last?.updatedAt]);
  useJobUpdates(job.id, (u) => {
    if (!u.runId) return;
    if (u.event === 'Created') latestRun.current = u.runId;
    if (u.runId !== latestRun.current) return;
    setLive((prev) => ({
      status: u.status || prev?.status || 'PENDING',
      text: progressText(u.data.progress, u.data.result) || prev?.text || '',
      reason: u.data.reason || '',
    }));
  }, following);
  return (
    <tr data-live={following ? 'yes' : 'no'}>
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
  const following = liveJobs(jobs);
  const someNotLive = jobs.length > following.size;
  useEffect(() => {
    if (!someNotLive) return undefined;
    const t = setInterval(reload, REFRESH_MS);
    return () => clearInterval(t);
  }, [someNotLive, reload]);
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
            {jobs.map((j) => <JobRow key={j.id} job={j} following={following.has(j.id)} />)}
          </tbody>
        </table>
      )}
      {someNotLive && (
        <p class="muted small-text">
          {`${following.size} of ${jobs.length} rows follow their status live; the others are re-read every ${REFRESH_MS / 1000} s.`}
        </p>
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

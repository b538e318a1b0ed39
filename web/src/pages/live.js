// Live batch status through the batchJobUpdates subscription (resumable by cursor).
import { useEffect, useState } from 'preact/hooks';
import { follow } from '../api.js';

export const UPDATES = `subscription($job: ID!, $after: String) {
  batchJobUpdates(jobId: $job, after: $after) { cursor jobId runId event status data }
}`;

// Calls onUpdate for every update of the job; returns the connection state.
export function useJobUpdates(jobId, onUpdate) {
  const [state, setState] = useState('connecting');
  useEffect(
    () => follow(UPDATES, { job: jobId }, 'batchJobUpdates', onUpdate, (s) => setState(s)),
    [jobId],
  );
  return state;
}

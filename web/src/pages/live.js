// Live batch status through the batchJobUpdates subscription (resumable by cursor).
import { useEffect, useState } from 'preact/hooks';
import { follow } from '../api.js';

export const UPDATES = `subscription($job: ID!, $after: String) {
  batchJobUpdates(jobId: $job, after: $after) { cursor jobId runId event status data }
}`;

// Calls onUpdate for every update of the job (while `enabled`); returns the connection
// state. Every subscription of the page shares one websocket (graphql-ws multiplexes them).
export function useJobUpdates(jobId, onUpdate, enabled = true) {
  const [state, setState] = useState(enabled ? 'connecting' : 'off');
  useEffect(() => {
    if (!enabled) {
      setState('off');
      return undefined;
    }
    return follow(UPDATES, { job: jobId }, 'batchJobUpdates', onUpdate, (s) => setState(s));
  }, [jobId, enabled]);
  return state;
}

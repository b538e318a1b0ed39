// Start an optimization of a version and follow its job to the report.
import { useEffect, useState } from 'preact/hooks';
import { gql } from '../api.js';
import { Link } from '../router.jsx';
import { Badge, Dialog, ErrorText, Progress, TextInput, announce } from '../ui.jsx';

const METHODS = {
  ONNX: ['ONNX_GRAPH_BASIC', 'ONNX_GRAPH_EXTENDED', 'ONNX_GRAPH_ALL', 'ONNX_INT8_DYNAMIC', 'ONNX_FP16'],
  TORCHSCRIPT: ['TORCHSCRIPT_FREEZE', 'TORCHSCRIPT_OPTIMIZE_FOR_INFERENCE'],
  PYTORCH: ['PYTORCH_EXPORT_TORCHSCRIPT', 'PYTORCH_EXPORT_ONNX'],
};
const START = `mutation($versionId: ID!, $methods: [OptimizationMethod!]!, $targetModel: String) {
  optimizeModelVersion(versionId: $versionId, methods: $methods, targetModel: $targetModel) {
    __typename ... on OptimizationJobPayload { job { id } } ... on Error { message }
  }
}`;
const REPORT_FIELDS = `latencyP50MsBefore latencyP50MsAfter speedup sizeBefore sizeAfter samples maxAbsDiff top1Agreement input`;
const JOB = `query($id: ID!) {
  optimizationJob(id: $id) {
    id status progress reason targetModel methods
    log { at message }
    report { ${REPORT_FIELDS} }
    resultVersion { id name model { id name } }
  }
}`;

export function methodsFor(format) {
  return METHODS[format] || [];
}

export function Report({ report }) {
  const pct = (v) => (v === null || v === undefined ? '—' : `${(v * 100).toFixed(1)}%`);
  return (
    <dl class="facts" aria-label="Optimization report">
      <dt>Latency p50</dt><dd>{report.latencyP50MsBefore.toFixed(3)} ms → {report.latencyP50MsAfter.toFixed(3)} ms{report.speedup ? ` (${report.speedup.toFixed(2)}× faster)` : ''}</dd>
      <dt>Size</dt><dd>{report.sizeBefore} B → {report.sizeAfter} B</dd>
      <dt>Accuracy</dt><dd>max |difference| {report.maxAbsDiff ?? 'unbounded'}; top-1 agreement {pct(report.top1Agreement)}; {report.samples} samples ({report.input} input)</dd>
    </dl>
  );
}

export function OptimizeDialog({ model, version, onClose }) {
  const options = methodsFor(version.format);
  const [chosen, setChosen] = useState(options.slice(0, 1));
  const [target, setTarget] = useState('');
  const [jobId, setJobId] = useState(null);
  const [job, setJob] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => {
    if (!jobId) return undefined;
    let timer = null;
    const poll = async () => {
      try {
        const data = await gql(JOB, { id: jobId });
        setJob(data.optimizationJob);
        if (['SUCCEEDED', 'FAILED'].includes(data.optimizationJob?.status)) {
          announce(`Optimization ${data.optimizationJob.status.toLowerCase()}`);
          return;
        }
      } catch (err) {
        setError(err);
      }
      timer = setTimeout(poll, 1000);
    };
    poll();
    return () => clearTimeout(timer);
  }, [jobId]);
  const start = async (e) => {
    e.preventDefault();
    setError(null);
    try {
      const data = await gql(START, { versionId: version.id, methods: chosen, targetModel: target.trim() || null });
      const r = data.optimizeModelVersion;
      if (r.__typename !== 'OptimizationJobPayload') throw new Error(r.message);
      setJobId(r.job.id);
    } catch (err) {
      setError(err);
    }
  };
  const toggle = (m) => setChosen(chosen.includes(m) ? chosen.filter((x) => x !== m) : [...chosen, m]);
  return (
    <Dialog title={`Optimize ${model.name} ${version.name}`} onClose={onClose}>
      {!jobId ? (
        <form onSubmit={start} class="stack">
          {options.length === 0 ? (
            <p>No optimization fits the {version.format} format.</p>
          ) : (
            <fieldset>
              <legend>Methods</legend>
              {options.map((m) => (
                <label key={m} class="check">
                  <input type="checkbox" checked={chosen.includes(m)} onChange={() => toggle(m)} /> {m.toLowerCase().replaceAll('_', ' ')}
                </label>
              ))}
            </fieldset>
          )}
          <TextInput label="Target model (optimized list)" hint={`default: ${model.name}-optimized`} value={target} onInput={setTarget} />
          <ErrorText error={error} />
          <div class="actions">
            <button type="button" onClick={onClose}>Cancel</button>
            <button type="submit" class="primary" disabled={!chosen.length}>Start optimization</button>
          </div>
        </form>
      ) : (
        <div class="stack" aria-live="polite">
          <p>Status: <Badge value={job?.status || 'PENDING'} /></p>
          <Progress value={job?.progress || 0} label="Optimization progress" />
          {job?.reason && <p class="error">{job.reason}</p>}
          {job?.report && <Report report={job.report} />}
          {job?.resultVersion && (
            <p>
              Saved as <Link href={`/models/${job.resultVersion.model.id}`}>{job.resultVersion.model.name} {job.resultVersion.name}</Link> in the optimized list.
            </p>
          )}
          {job?.log?.length > 0 && (
            <details>
              <summary>Log</summary>
              <pre>{job.log.map((l) => `${l.at} ${l.message}`).join('\n')}</pre>
            </details>
          )}
          <ErrorText error={error} />
          <div class="actions"><button type="button" onClick={onClose}>Close</button></div>
        </div>
      )}
    </Dialog>
  );
}

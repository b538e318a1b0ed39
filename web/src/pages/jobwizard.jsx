// The batch-job wizard: model version, data in and out, preprocessing steps, schedule.
import { useState } from 'preact/hooks';
import { gql } from '../api.js';
import { Dialog, ErrorText, Select, TextInput, announce } from '../ui.jsx';
import { VersionPicker } from './services.jsx';
import { StepEditor, toSteps } from './stepeditor.jsx';

const CREATE = `mutation($input: BatchJobInput!) {
  createBatchJob(input: $input) { __typename ... on BatchJobPayload { job { id name } } ... on Error { message } }
}`;
const STEPS = ['Model version', 'Data', 'Preprocessing', 'Schedule', 'Review'];
const FORMATS = ['CSV', 'JSONL', 'PARQUET'];

export function JobWizard({ initialVersion, onClose, onCreated }) {
  const [step, setStep] = useState(0);
  const [version, setVersion] = useState(initialVersion ? { id: initialVersion } : null);
  const [form, setForm] = useState({
    name: '', inputUri: '', inputFormat: 'CSV', outputUri: '', outputFormat: 'JSONL', idColumn: '',
    kind: 'ONCE', expression: '', start: '', timeZone: 'UTC', misfire: 'RUN_ONCE', concurrency: 'FORBID',
  });
  const [rows, setRows] = useState([]);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (key) => (value) => setForm({ ...form, [key]: value });
  const valid = [
    Boolean(form.name.trim() && version?.id),
    Boolean(form.inputUri.trim() && form.outputUri.trim()),
    true,
    form.kind === 'ONCE' || Boolean(form.expression.trim()),
    true,
  ];
  const next = (e) => {
    e.preventDefault();
    setError(null);
    if (step === 2) {
      try {
        toSteps(rows);
      } catch (err) {
        setError(err);
        return;
      }
    }
    if (step < STEPS.length - 1) setStep(step + 1);
    else create();
  };
  const create = async () => {
    setBusy(true);
    try {
      const input = {
        name: form.name.trim(),
        versionId: version.id,
        inputUri: form.inputUri.trim(),
        inputFormat: form.inputFormat,
        outputUri: form.outputUri.trim(),
        outputFormat: form.outputFormat,
        idColumn: form.idColumn.trim() || null,
        steps: toSteps(rows),
        schedule: {
          kind: form.kind,
          expression: form.kind === 'PERIODIC' ? form.expression.trim() : null,
          start: form.start ? form.start : null,
          timeZone: form.timeZone.trim() || 'UTC',
          misfirePolicy: form.misfire,
          concurrencyPolicy: form.concurrency,
        },
      };
      const data = await gql(CREATE, { input });
      const r = data.createBatchJob;
      if (r.__typename !== 'BatchJobPayload') throw new Error(r.message);
      announce(`Created batch job ${r.job.name}`);
      onCreated(r.job);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  let summary = [];
  try {
    summary = toSteps(rows);
  } catch {
    summary = [];
  }
  return (
    <Dialog title="Create a batch job" onClose={onClose} wide>
      <ol class="steps">
        {STEPS.map((s, i) => (
          <li key={s} aria-current={i === step ? 'step' : undefined} class={i < step ? 'done' : ''}>{s}</li>
        ))}
      </ol>
      <form class="stack" onSubmit={next}>
        <fieldset>
          <legend>{STEPS[step]}</legend>
          {step === 0 && (
            <>
              <TextInput label="Job name" value={form.name} onInput={set('name')} required />
              <VersionPicker value={version?.id} onChange={setVersion} />
            </>
          )}
          {step === 1 && (
            <>
              <div class="row">
                <TextInput label="Input URI" hint="s3://bucket/file.csv or a prefix" value={form.inputUri} onInput={set('inputUri')} required />
                <Select label="Input format" value={form.inputFormat} onChange={set('inputFormat')} options={FORMATS} />
              </div>
              <div class="row">
                <TextInput label="Output URI" hint="s3://bucket/prefix" value={form.outputUri} onInput={set('outputUri')} required />
                <Select label="Output format" value={form.outputFormat} onChange={set('outputFormat')} options={FORMATS} />
              </div>
              <TextInput label="Id column (optional)" hint="copied to the output beside the predictions" value={form.idColumn} onInput={set('idColumn')} />
            </>
          )}
          {step === 2 && <StepEditor rows={rows} onChange={setRows} />}
          {step === 3 && (
            <>
              <Select label="Schedule" value={form.kind} onChange={set('kind')} options={[['ONCE', 'Once'], ['PERIODIC', 'Periodic']]} />
              {form.kind === 'PERIODIC' && (
                <TextInput label="Cron expression or period" hint='e.g. "0 3 * * *" or "every 6h"' value={form.expression} onInput={set('expression')} required />
              )}
              <div class="row">
                <TextInput label="Start (optional, in the time zone below)" type="datetime-local" step="1" value={form.start} onInput={set('start')} />
                <TextInput label="Time zone" value={form.timeZone} onInput={set('timeZone')} />
              </div>
              <div class="row">
                <Select label="After downtime" value={form.misfire} onChange={set('misfire')} options={[['RUN_ONCE', 'Run once to catch up'], ['SKIP', 'Skip missed runs']]} />
                <Select label="Overlapping runs" value={form.concurrency} onChange={set('concurrency')} options={[['FORBID', 'Wait for the previous run'], ['ALLOW', 'Allow overlap']]} />
              </div>
            </>
          )}
          {step === 4 && (
            <dl class="facts">
              <dt>Name</dt><dd>{form.name}</dd>
              <dt>Version</dt><dd>{version?.name || version?.id}</dd>
              <dt>Input</dt><dd>{form.inputUri} ({form.inputFormat})</dd>
              <dt>Output</dt><dd>{form.outputUri} ({form.outputFormat})</dd>
              <dt>Steps</dt><dd>{summary.length ? summary.map((s) => s.kind).join(' → ') : 'none'}</dd>
              <dt>Schedule</dt><dd>{form.kind === 'ONCE' ? `once${form.start ? ` at ${form.start}` : ', now'}` : form.expression} ({form.timeZone})</dd>
            </dl>
          )}
        </fieldset>
        <ErrorText error={error} />
        <div class="actions">
          <button type="button" onClick={step ? () => setStep(step - 1) : onClose}>{step ? 'Back' : 'Cancel'}</button>
          <button type="submit" class="primary" disabled={!valid[step] || busy}>
            {step < STEPS.length - 1 ? 'Next' : busy ? 'Creating…' : 'Create job'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

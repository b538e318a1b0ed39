// Import a model (or a new version of one): by upload with a progress bar, from object
// storage, or from a finished training task.
import { useState } from 'preact/hooks';
import { gql, gqlUpload } from '../api.js';
import { Dialog, ErrorText, Field, Progress, Select, TextInput, announce, useAsync } from '../ui.jsx';

export const FORMATS = [
  ['ONNX', 'ONNX'],
  ['TORCHSCRIPT', 'TorchScript'],
  ['PYTORCH', 'PyTorch (native)'],
  ['SAVED_MODEL', 'SavedModel'],
  ['FROZEN_GRAPH', 'Frozen Graph'],
  ['PMML', 'PMML'],
  ['DETECTRON2', 'Detectron2'],
  ['MMDETECTION', 'MMDetection'],
];

const RESULT = `
  __typename
  ... on ImportSuccess { model { id name } version { id name status } }
  ... on ImportFailed { message model { id } version { id name } }
  ... on Error { message }
`;
const IMPORT_MODEL = `mutation($input: ImportModelInput!) { importModel(input: $input) { ${RESULT} } }`;
const IMPORT_VERSION = `mutation($modelId: ID!, $version: VersionInput!) {
  importModelVersion(modelId: $modelId, version: $version) { ${RESULT} } }`;
const TASKS = `{ trainingTasks(status: SUCCEEDED, first: 100) { nodes { id name framework outputUri } } }`;

export function parseMetrics(text) {
  const metrics = [];
  for (const part of text.split(/[,\n]/).map((p) => p.trim()).filter(Boolean)) {
    const [name, value] = part.split('=').map((s) => s.trim());
    const number = Number(value);
    if (!name || value === undefined || Number.isNaN(number)) {
      throw new Error(`"${part}" is not a metric: write name=number, e.g. top1=0.76`);
    }
    metrics.push({ name, value: number });
  }
  return metrics;
}

function TaskPicker({ value, onChange }) {
  const { data, error } = useAsync(() => gql(TASKS), []);
  const tasks = data?.trainingTasks.nodes || [];
  return (
    <>
      <ErrorText error={error} />
      <Select
        label="Training task (finished)"
        value={value}
        onChange={onChange}
        options={[['', tasks.length ? 'Choose a task…' : 'No finished training tasks'], ...tasks.map((t) => [t.id, `${t.name} · ${t.framework} · ${t.outputUri}`])]}
      />
    </>
  );
}

// `model` given: a new version of it; otherwise a new model in `list`.
export function ImportDialog({ model = null, list = 'ORIGINAL', onClose, onDone }) {
  const [form, setForm] = useState({
    name: '',
    description: '',
    tags: '',
    format: 'ONNX',
    framework: '',
    runtime: '',
    metrics: '',
    source: 'upload',
    uri: '',
    mode: 'COPY',
    taskId: '',
  });
  const [file, setFile] = useState(null);
  const [progress, setProgress] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const set = (key) => (value) => setForm({ ...form, [key]: value });

  const submit = async (e) => {
    e.preventDefault();
    setError(null);
    try {
      const version = {
        format: form.format,
        framework: form.framework.trim() || null,
        runtime: form.runtime.trim() || null,
        metrics: form.metrics.trim() ? parseMetrics(form.metrics) : null,
        files: null,
      };
      if (form.source === 'upload') {
        if (!file) throw new Error('Choose a file to upload.');
        version.files = { upload: null };
      } else if (form.source === 'storage') {
        version.files = { uri: form.uri.trim(), mode: form.mode };
      } else {
        if (!form.taskId) throw new Error('Choose a training task.');
        version.files = { trainingTaskId: form.taskId, mode: form.mode };
      }
      let query;
      let variables;
      let path;
      if (model) {
        query = IMPORT_VERSION;
        variables = { modelId: model.id, version };
        path = 'version.files.upload';
      } else {
        const tags = form.tags
          .split(',')
          .map((t) => t.trim())
          .filter(Boolean)
          .map((t) => {
            const [key, ...rest] = t.split('=');
            return { key: key.trim(), value: rest.join('=').trim() };
          });
        query = IMPORT_MODEL;
        variables = {
          input: { name: form.name, list, description: form.description || null, tags, version },
        };
        path = 'input.version.files.upload';
      }
      setBusy(true);
      let data;
      if (form.source === 'upload') {
        setProgress(0);
        data = await gqlUpload(query, variables, path, file, setProgress);
      } else {
        data = await gql(query, variables);
      }
      const result = model ? data.importModelVersion : data.importModel;
      if (result.__typename === 'ImportSuccess') {
        announce(`Imported ${result.model.name} ${result.version.name} (${result.version.status})`);
        onDone(result);
        onClose();
      } else {
        throw new Error(result.message);
      }
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog title={model ? `New version of ${model.name}` : 'Import a model'} onClose={onClose} wide>
      <form onSubmit={submit} class="stack">
        {!model && (
          <fieldset>
            <legend>Model</legend>
            <TextInput label="Name" value={form.name} onInput={set('name')} required maxLength={64} />
            <TextInput label="Description" value={form.description} onInput={set('description')} />
            <TextInput label="Tags" hint="key=value, comma separated" value={form.tags} onInput={set('tags')} />
          </fieldset>
        )}
        <fieldset>
          <legend>Version</legend>
          <div class="row">
            <Select label="Format" value={form.format} onChange={set('format')} options={FORMATS} />
            <TextInput label="Framework" hint="e.g. PyTorch 2.3 (optional)" value={form.framework} onInput={set('framework')} />
            <TextInput label="Runtime" hint="empty: the format's built-in one; custom; image:<ref>" value={form.runtime} onInput={set('runtime')} />
          </div>
          <TextInput label="Metrics" hint="name=value, comma separated, e.g. top1=0.76" value={form.metrics} onInput={set('metrics')} />
        </fieldset>
        <fieldset>
          <legend>Files from</legend>
          <div class="radios">
            {[
              ['upload', 'Upload'],
              ['storage', 'Object storage'],
              ['task', 'Training task'],
            ].map(([key, text]) => (
              <label key={key}>
                <input type="radio" name="source" value={key} checked={form.source === key} onChange={() => set('source')(key)} /> {text}
              </label>
            ))}
          </div>
          {form.source === 'upload' && (
            <Field label="Model file or package (.zip, .tar.gz)">
              {(id) => <input id={id} type="file" onChange={(e) => setFile(e.currentTarget.files[0] || null)} />}
            </Field>
          )}
          {form.source === 'storage' && (
            <TextInput label="URI" hint="s3://bucket/prefix or cos://bucket/prefix" value={form.uri} onInput={set('uri')} required />
          )}
          {form.source === 'task' && <TaskPicker value={form.taskId} onChange={set('taskId')} />}
          {form.source !== 'upload' && (
            <Select label="Mode" value={form.mode} onChange={set('mode')} options={[['COPY', 'Copy'], ['MOVE', 'Move (delete the source after a verified copy)']]} />
          )}
        </fieldset>
        {progress !== null && <Progress value={progress} label="Upload progress" />}
        <ErrorText error={error} />
        <div class="actions">
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" class="primary" disabled={busy}>
            {busy ? 'Importing…' : 'Import'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

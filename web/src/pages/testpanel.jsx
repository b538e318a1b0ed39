// Runs a sample through the service's own predict path: a JSON body, or an image for
// models with an image input (sent base64, as {"b64": ...}). Whether a model takes images
// comes from its deployments' inputs (known once this server has loaded them).
import { useState } from 'preact/hooks';
import { gql } from '../api.js';
import { ErrorText, Field } from '../ui.jsx';

const TEST = `mutation($id: ID!, $payload: JSON!) {
  testService(serviceId: $id, payload: $payload) {
    __typename ... on TestServiceSuccess { response statusCode latencyMs versionNumber } ... on Error { message }
  }
}`;

function readBase64(file) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(String(reader.result).split(',', 2)[1]);
    reader.onerror = () => reject(new Error('The image could not be read.'));
    reader.readAsDataURL(file);
  });
}

function Signature({ deployments }) {
  const known = deployments.filter((d) => d.inputs);
  if (!known.length) {
    return <p class="muted small-text">The model inputs are not known yet (shown once the service has loaded its versions).</p>;
  }
  return (
    <ul class="signature" aria-label="Model inputs">
      {known.map((d) => (
        <li key={d.versionId}>
          V{d.versionNumber}:{' '}
          {d.inputs.map((i) => `${i.name} ${i.datatype} [${i.shape.join(', ')}]${i.image ? ' (image)' : ''}`).join('; ')}
        </li>
      ))}
    </ul>
  );
}

export function TestPanel({ service }) {
  const takesImages = service.deployments.some((d) => (d.inputs || []).some((i) => i.image));
  const [mode, setMode] = useState('json');
  const [text, setText] = useState('{"instances": [[1.0, 2.0, 3.0, 4.0]]}');
  const [image, setImage] = useState(null);
  const [result, setResult] = useState(null);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const run = async (e) => {
    e.preventDefault();
    setError(null);
    setResult(null);
    let payload;
    try {
      if (mode === 'json' || !takesImages) {
        try {
          payload = JSON.parse(text);
        } catch (err) {
          throw new Error(`The payload is not valid JSON: ${err.message}`);
        }
      } else {
        if (!image) throw new Error('Choose an image.');
        payload = { instances: [{ b64: await readBase64(image) }] };
      }
      setBusy(true);
      const data = await gql(TEST, { id: service.id, payload });
      const r = data.testService;
      if (r.__typename !== 'TestServiceSuccess') throw new Error(r.message);
      setResult(r);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={run} class="stack">
      <fieldset>
        <legend>Sample</legend>
        <Signature deployments={service.deployments} />
        {takesImages && (
          <div class="radios">
            <label><input type="radio" name="test-mode" checked={mode === 'json'} onChange={() => setMode('json')} /> JSON payload</label>
            <label><input type="radio" name="test-mode" checked={mode === 'image'} onChange={() => setMode('image')} /> Image upload</label>
          </div>
        )}
        {mode === 'json' || !takesImages ? (
          <Field label="Payload (v1: instances or inputs)">
            {(id) => <textarea id={id} rows="6" class="code" value={text} onInput={(e) => setText(e.currentTarget.value)} />}
          </Field>
        ) : (
          <Field label="Image (JPEG or PNG)">
            {(id) => <input id={id} type="file" accept="image/png,image/jpeg" onChange={(e) => setImage(e.currentTarget.files[0] || null)} />}
          </Field>
        )}
      </fieldset>
      <div class="actions">
        <button type="submit" class="primary" disabled={busy}>{busy ? 'Running…' : 'Run test'}</button>
      </div>
      <ErrorText error={error} />
      <div aria-live="polite">
        {result && (
          <div class="card result" data-testid="test-result">
            <p>
              HTTP <strong>{result.statusCode}</strong> in {result.latencyMs.toFixed(1)} ms
              {result.versionNumber !== null && <> · answered by V{result.versionNumber}</>}
            </p>
            <pre>{JSON.stringify(result.response, null, 2)}</pre>
          </div>
        )}
      </div>
    </form>
  );
}

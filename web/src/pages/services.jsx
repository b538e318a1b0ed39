// The service list and the publish wizard (version, instances and resources, runtime).
import { useState } from 'preact/hooks';
import { gql } from '../api.js';
import { Link, navigate, setQuery, useLocation } from '../router.jsx';
import { Badge, Dialog, Empty, ErrorText, Loading, Select, TextInput, announce, useAsync, when } from '../ui.jsx';

const SERVICES = `query($search: String, $after: String) {
  services(search: $search, first: 20, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { id name status revision updatedAt deployments { versionNumber trafficPercent version { model { name } } } }
  }
}`;
const CANDIDATES = `query($search: String) {
  models(search: $search, first: 50) {
    nodes { id name versions(first: 50) { nodes { id name status format runtime } } }
  }
}`;
const PUBLISH = `mutation($name: String!, $versions: [DeployVersionInput!]!) {
  publishService(name: $name, versions: $versions) {
    __typename ... on ServiceWithKey { accessKey service { id name } } ... on Error { message }
  }
}`;

// Picks a READY version: a model, then one of its versions.
export function VersionPicker({ value, onChange, exclude = [] }) {
  const { data, error } = useAsync(() => gql(CANDIDATES, { search: null }), []);
  const models = (data?.models.nodes || []).filter((m) => m.versions.nodes.some((v) => v.status === 'READY'));
  const owner = models.find((m) => m.versions.nodes.some((v) => v.id === value));
  const [modelId, setModelId] = useState(null);
  const current = models.find((m) => m.id === (modelId ?? owner?.id)) || null;
  const versions = (current?.versions.nodes || []).filter((v) => v.status === 'READY' && !exclude.includes(v.id));
  return (
    <div class="row">
      <ErrorText error={error} />
      <Select
        label="Model"
        value={current?.id || ''}
        onChange={(id) => {
          setModelId(id);
          const m = models.find((x) => x.id === id);
          const first = m?.versions.nodes.find((v) => v.status === 'READY' && !exclude.includes(v.id));
          onChange(first || null);
        }}
        options={[['', models.length ? 'Choose a model…' : 'No model has a ready version'], ...models.map((m) => [m.id, m.name])]}
      />
      <Select
        label="Version"
        value={value || ''}
        onChange={(id) => onChange(versions.find((v) => v.id === id) || null)}
        options={[['', 'Choose a version…'], ...versions.map((v) => [v.id, `${v.name} · ${v.format} · ${v.runtime}`])]}
      />
    </div>
  );
}

const STEPS = ['Version', 'Instances and resources', 'Runtime', 'Name and publish'];

function PublishWizard({ initialVersion, onClose }) {
  const [step, setStep] = useState(0);
  const [version, setVersion] = useState(initialVersion ? { id: initialVersion } : null);
  const [spec, setSpec] = useState({ instances: '1', cpu: '1', memoryMb: '1024', gpus: '0', runtime: '', name: '' });
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [published, setPublished] = useState(null);
  const set = (key) => (value) => setSpec({ ...spec, [key]: value });
  const valid = [
    Boolean(version?.id),
    Number(spec.instances) >= 1 && Number(spec.cpu) > 0 && Number(spec.memoryMb) >= 1 && Number(spec.gpus) >= 0,
    true,
    spec.name.trim().length > 0,
  ];
  const publish = async () => {
    setBusy(true);
    setError(null);
    try {
      const data = await gql(PUBLISH, {
        name: spec.name.trim(),
        versions: [
          {
            versionId: version.id,
            instances: Number(spec.instances),
            cpu: Number(spec.cpu),
            memoryMb: Number(spec.memoryMb),
            gpus: Number(spec.gpus),
            runtime: spec.runtime.trim() || null,
            trafficPercent: 100,
          },
        ],
      });
      const r = data.publishService;
      if (r.__typename !== 'ServiceWithKey') throw new Error(r.message);
      announce(`Published ${r.service.name}`);
      setPublished(r);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  if (published) {
    return (
      <Dialog title={`${published.service.name} is published`} onClose={() => navigate(`/services/${published.service.id}`)}>
        <div class="stack">
          <p>The service is deploying. Its access key (editors can reveal it again later):</p>
          <pre class="secret">{published.accessKey}</pre>
          <div class="actions">
            <button type="button" class="primary" onClick={() => navigate(`/services/${published.service.id}`)}>
              Open the service
            </button>
          </div>
        </div>
      </Dialog>
    );
  }
  return (
    <Dialog title="Publish a service" onClose={onClose} wide>
      <ol class="steps">
        {STEPS.map((s, i) => (
          <li key={s} aria-current={i === step ? 'step' : undefined} class={i < step ? 'done' : ''}>
            {s}
          </li>
        ))}
      </ol>
      <form
        class="stack"
        onSubmit={(e) => {
          e.preventDefault();
          if (!valid[step]) return;
          if (step < STEPS.length - 1) setStep(step + 1);
          else publish();
        }}
      >
        <fieldset>
          <legend>{STEPS[step]}</legend>
          {step === 0 && <VersionPicker value={version?.id} onChange={setVersion} />}
          {step === 1 && (
            <div class="row">
              <TextInput label="Instances" type="number" min="1" value={spec.instances} onInput={set('instances')} />
              <TextInput label="CPU cores" type="number" min="0.1" step="0.1" value={spec.cpu} onInput={set('cpu')} />
              <TextInput label="Memory (MB)" type="number" min="1" value={spec.memoryMb} onInput={set('memoryMb')} />
              <TextInput label="GPUs" type="number" min="0" value={spec.gpus} onInput={set('gpus')} />
            </div>
          )}
          {step === 2 && (
            <TextInput
              label="Runtime override"
              hint={`Empty keeps the version's runtime${version?.runtime ? ` (${version.runtime})` : ''}; "custom" runs model_service.py.`}
              value={spec.runtime}
              onInput={set('runtime')}
            />
          )}
          {step === 3 && (
            <>
              <TextInput label="Service name" value={spec.name} onInput={set('name')} required maxLength={64} />
              <dl class="facts">
                <dt>Version</dt><dd>{version?.name || version?.id}</dd>
                <dt>Instances</dt><dd>{spec.instances} × {spec.cpu} CPU, {spec.memoryMb} MB, {spec.gpus} GPU</dd>
                <dt>Runtime</dt><dd>{spec.runtime || version?.runtime || "the version's own"}</dd>
              </dl>
            </>
          )}
        </fieldset>
        <ErrorText error={error} />
        <div class="actions">
          <button type="button" onClick={step ? () => setStep(step - 1) : onClose}>
            {step ? 'Back' : 'Cancel'}
          </button>
          <button type="submit" class="primary" disabled={!valid[step] || busy}>
            {step < STEPS.length - 1 ? 'Next' : busy ? 'Publishing…' : 'Publish'}
          </button>
        </div>
      </form>
    </Dialog>
  );
}

export function ServicesPage({ me }) {
  const { query } = useLocation();
  const publishing = query.get('publish');
  const [search, setSearch] = useState('');
  const [applied, setApplied] = useState('');
  const [cursors, setCursors] = useState([null]);
  const after = cursors[cursors.length - 1];
  const { data, error, loading } = useAsync(() => gql(SERVICES, { search: applied || null, after }), [applied, after]);
  const services = data?.services.nodes || [];
  return (
    <section>
      <div class="page-head">
        <h1>Services</h1>
        {me.role !== 'VIEWER' && (
          <button type="button" class="primary" onClick={() => setQuery({ publish: 'new' })}>
            Publish a service
          </button>
        )}
      </div>
      <form class="filters" role="search" onSubmit={(e) => { e.preventDefault(); setCursors([null]); setApplied(search.trim()); }}>
        <div class="field">
          <label for="service-search">Name contains</label>
          <input id="service-search" type="search" value={search} onInput={(e) => setSearch(e.currentTarget.value)} />
        </div>
        <button type="submit">Filter</button>
      </form>
      <ErrorText error={error} />
      {loading && !data ? (
        <Loading what="Loading services" />
      ) : services.length === 0 ? (
        <Empty>No services yet.</Empty>
      ) : (
        <table class="list" aria-label="Services">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Status</th>
              <th scope="col">Traffic</th>
              <th scope="col">Revision</th>
              <th scope="col">Updated</th>
            </tr>
          </thead>
          <tbody>
            {services.map((s) => (
              <tr key={s.id}>
                <td><Link href={`/services/${s.id}`}>{s.name}</Link></td>
                <td><Badge value={s.status} /></td>
                <td>
                  {s.deployments.map((d) => `${d.version?.model?.name || ''} V${d.versionNumber}: ${d.trafficPercent}%`).join(' · ')}
                </td>
                <td>{s.revision}</td>
                <td>{when(s.updatedAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <nav class="pager" aria-label="Pages">
        <button type="button" disabled={cursors.length < 2} onClick={() => setCursors(cursors.slice(0, -1))}>Previous</button>
        <span>Page {cursors.length}</span>
        <button type="button" disabled={!data?.services.pageInfo.hasNextPage} onClick={() => setCursors([...cursors, data.services.pageInfo.endCursor])}>Next</button>
      </nav>
      {publishing && (
        <PublishWizard initialVersion={publishing === 'new' ? null : publishing} onClose={() => setQuery({ publish: null })} />
      )}
    </section>
  );
}

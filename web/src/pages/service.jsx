// One service: endpoint and curl, the access key, traffic, upgrade and rollback, a test
// panel, monitoring and history.
import { useEffect, useState } from 'preact/hooks';
import { gql } from '../api.js';
import { Link, setQuery, useLocation } from '../router.jsx';
import { Badge, Copy, ErrorText, Loading, TabPanel, Tabs, announce, useAsync, when } from '../ui.jsx';
import { ServiceAsOf } from './asof.jsx';
import { HistoryTab } from './history.jsx';
import { Monitoring } from './monitoring.jsx';
import { Revisions } from './revisions.jsx';
import { TestPanel } from './testpanel.jsx';
import { Traffic } from './traffic.jsx';

const SERVICE = `query($id: ID!) {
  service(id: $id) {
    id name hostId status statusReason revision createdAt createdBy updatedAt endpoint
    deployments {
      versionId modelId versionNumber instances cpu memoryMb gpus runtime trafficPercent
      version { name format runtime model { id name } }
      inputs { name datatype shape image }
    }
    revisions { revision kind restoredRevision createdAt createdBy deployments { versionNumber trafficPercent instances } }
  }
}`;
const KEY = 'query($id: ID!) { service(id: $id) { accessKey } }';
const ROTATE = `mutation($id: ID!) { rotateServiceKey(serviceId: $id) {
  __typename ... on ServiceWithKey { accessKey } ... on Error { message } } }`;
const LIFECYCLE = (verb) => `mutation($id: ID!) { ${verb}(serviceId: $id) { __typename ... on Error { message } } }`;

function AccessKey({ service, editor }) {
  const [key, setKey] = useState(null);
  const [error, setError] = useState(null);
  const reveal = async () => {
    try {
      const data = await gql(KEY, { id: service.id });
      setKey(data.service.accessKey);
    } catch (err) {
      setError(err);
    }
  };
  const rotate = async () => {
    if (!window.confirm('Rotate the key? The current key stops working at once.')) return;
    try {
      const data = await gql(ROTATE, { id: service.id });
      if (data.rotateServiceKey.__typename !== 'ServiceWithKey') throw new Error(data.rotateServiceKey.message);
      setKey(data.rotateServiceKey.accessKey);
      announce('The access key was rotated; the old one no longer works');
    } catch (err) {
      setError(err);
    }
  };
  const curl = `curl ${service.endpoint} \\\n  -H "Authorization: ${key || '$MODELREPO_KEY'}" \\\n  -H 'content-type: application/json' \\\n  -d '{"instances": [[1.0, 2.0, 3.0, 4.0]]}'`;
  return (
    <div class="stack">
      <div class="field">
        <span class="label" id="endpoint-label">Endpoint (v1; v2 at /v2/models/{service.name}/infer)</span>
        <div class="inline-copy">
          <code aria-labelledby="endpoint-label" class="endpoint">{service.endpoint}</code>
          <Copy text={service.endpoint} label="Copy endpoint" />
        </div>
      </div>
      <div class="field">
        <span class="label" id="key-label">Access key</span>
        <div class="inline-copy">
          <code aria-labelledby="key-label" class="secret" data-testid="access-key">{key || '••••••••••••••••'}</code>
          {editor && !key && <button type="button" class="small" onClick={reveal}>Reveal</button>}
          {key && <Copy text={key} label="Copy key" />}
          {editor && <button type="button" class="small" onClick={rotate}>Rotate</button>}
        </div>
      </div>
      <ErrorText error={error} />
      <div class="field">
        <span class="label" id="curl-label">Try it with curl</span>
        <pre aria-labelledby="curl-label" class="curl">{curl}</pre>
        <Copy text={curl} label="Copy curl command" />
      </div>
    </div>
  );
}

export function ServicePage({ id, me }) {
  const { query } = useLocation();
  const tab = query.get('tab') || 'overview';
  const asOf = query.get('asOf');
  const editor = me.role !== 'VIEWER';
  const { data, error, loading, reload } = useAsync(() => gql(SERVICE, { id }), [id]);
  const [failed, setFailed] = useState(null);
  const service = data?.service;
  // Deploying takes a moment: follow the status until it settles.
  useEffect(() => {
    if (service?.status !== 'DEPLOYING') return undefined;
    const t = setTimeout(reload, 1000);
    return () => clearTimeout(t);
  }, [service]);
  if (loading && !data) return <Loading what="Loading the service" />;
  if (error) return <ErrorText error={error} />;
  if (!service) return <h1>No such service</h1>;
  const lifecycle = async (verb) => {
    try {
      const d = await gql(LIFECYCLE(verb), { id });
      if (d[verb].__typename !== 'ServicePayload') throw new Error(d[verb].message);
      reload();
    } catch (err) {
      setFailed(err);
    }
  };
  return (
    <section>
      <p class="crumbs"><Link href="/services">Services</Link> /</p>
      <div class="page-head">
        <h1>{service.name}</h1>
        <span aria-live="polite"><Badge value={service.status} /></span>
        {editor && (
          <div class="actions">
            {service.status === 'STOPPED' ? (
              <button type="button" onClick={() => lifecycle('startService')}>Start</button>
            ) : (
              <button type="button" onClick={() => lifecycle('stopService')}>Stop</button>
            )}
          </div>
        )}
      </div>
      {service.statusReason && <p class="warning">{service.statusReason}</p>}
      <ErrorText error={failed} />
      <dl class="facts">
        <dt>Host id</dt><dd><code>{service.hostId}</code></dd>
        <dt>Revision</dt><dd>{service.revision}</dd>
        <dt>Created</dt><dd>{when(service.createdAt)} by {service.createdBy}</dd>
        <dt>Versions</dt>
        <dd>
          {service.deployments.map((d) => (
            <span key={d.versionId} class="tag">
              <Link href={`/models/${d.modelId}`}>{d.version?.model?.name} V{d.versionNumber}</Link> · {d.trafficPercent}% · {d.instances}×
            </span>
          ))}
        </dd>
      </dl>
      <Tabs
        label="Service sections"
        tabs={[['overview', 'Endpoint and key'], ['traffic', 'Traffic'], ['revisions', 'Upgrade and rollback'], ['test', 'Test'], ['monitoring', 'Monitoring'], ['history', 'History'], ['asof', 'As of']]}
        current={tab}
        onSelect={(t) => setQuery({ tab: t === 'overview' ? null : t, asOf: null })}
      />
      {tab === 'overview' && <TabPanel name="overview"><AccessKey service={service} editor={editor} /></TabPanel>}
      {tab === 'traffic' && <TabPanel name="traffic"><Traffic service={service} editor={editor} onSaved={reload} /></TabPanel>}
      {tab === 'revisions' && <TabPanel name="revisions"><Revisions service={service} editor={editor} onChanged={reload} /></TabPanel>}
      {tab === 'test' && <TabPanel name="test"><TestPanel service={service} /></TabPanel>}
      {tab === 'monitoring' && (
        <TabPanel name="monitoring">
          <Monitoring service={service} />
        </TabPanel>
      )}
      {tab === 'history' && (
        <TabPanel name="history">
          <HistoryTab targets={[{ id: service.id, label: `service ${service.name}` }]} onAsOf={(at) => setQuery({ tab: 'asof', asOf: at })} />
        </TabPanel>
      )}
      {tab === 'asof' && (
        <TabPanel name="asof">
          <ServiceAsOf key={asOf || 'now'} serviceId={service.id} at={asOf} onChange={(at) => setQuery({ asOf: at })} />
        </TabPanel>
      )}
    </section>
  );
}

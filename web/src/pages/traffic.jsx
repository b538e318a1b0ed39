// Traffic sliders, one per deployed version: whole percentages that must sum to 100.
import { useState } from 'preact/hooks';
import { gql } from '../api.js';
import { ErrorText, announce } from '../ui.jsx';

const SET_TRAFFIC = `mutation($id: ID!, $traffic: [TrafficInput!]!) {
  setServiceTraffic(serviceId: $id, traffic: $traffic) { __typename ... on Error { message } }
}`;

export function Traffic({ service, editor, onSaved }) {
  const initial = Object.fromEntries(service.deployments.map((d) => [d.versionId, d.trafficPercent]));
  const [split, setSplit] = useState(initial);
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const total = Object.values(split).reduce((a, b) => a + b, 0);
  const changed = service.deployments.some((d) => split[d.versionId] !== d.trafficPercent);
  const set = (id, value) => {
    const n = Math.max(0, Math.min(100, Math.round(Number(value) || 0)));
    setSplit({ ...split, [id]: n });
  };
  const even = () => {
    const ids = service.deployments.map((d) => d.versionId);
    const base = Math.floor(100 / ids.length);
    setSplit(Object.fromEntries(ids.map((id, i) => [id, base + (i < 100 - base * ids.length ? 1 : 0)])));
  };
  const save = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const traffic = Object.entries(split).map(([versionId, percent]) => ({ versionId, percent }));
      const data = await gql(SET_TRAFFIC, { id: service.id, traffic });
      if (data.setServiceTraffic.__typename !== 'ServicePayload') throw new Error(data.setServiceTraffic.message);
      announce(`Traffic saved: ${service.deployments.map((d) => `V${d.versionNumber} ${split[d.versionId]}%`).join(', ')}`);
      onSaved();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form onSubmit={save} class="stack traffic">
      {service.deployments.length < 2 && (
        <p class="muted">One version takes all traffic. Add a version under "Upgrade and rollback" (partial upgrade) to split it.</p>
      )}
      {service.deployments.map((d) => {
        const label = `${d.version?.model?.name || ''} V${d.versionNumber}`;
        const slider = `traffic-${d.versionId}`;
        return (
          <div class="slider-row" key={d.versionId}>
            <label for={slider}>{label}</label>
            <input id={slider} type="range" min="0" max="100" step="1" value={split[d.versionId]} disabled={!editor} onInput={(e) => set(d.versionId, e.currentTarget.value)} />
            <input
              type="number"
              min="0"
              max="100"
              class="percent"
              aria-label={`${label} percent`}
              value={split[d.versionId]}
              disabled={!editor}
              onInput={(e) => set(d.versionId, e.currentTarget.value)}
            />
            <span aria-hidden="true">%</span>
          </div>
        );
      })}
      <p class={total === 100 ? 'ok' : 'error'} aria-live="polite" data-testid="traffic-total">
        Total: {total}% {total === 100 ? '' : '— the split must sum to 100%'}
      </p>
      <ErrorText error={error} />
      {editor && (
        <div class="actions">
          <button type="button" onClick={even} disabled={service.deployments.length < 2}>Split evenly</button>
          <button type="button" onClick={() => setSplit(initial)} disabled={!changed}>Reset</button>
          <button type="submit" class="primary" disabled={total !== 100 || !changed || busy}>Save traffic</button>
        </div>
      )}
    </form>
  );
}

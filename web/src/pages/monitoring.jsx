// Monitoring charts (requests, latency, errors) per version, hand-drawn in SVG, with the
// service's deploys and other changes as annotations.
import { useState } from 'preact/hooks';
import { gql } from '../api.js';
import { Empty, ErrorText, Loading, useAsync } from '../ui.jsx';

const METRICS = `query($service: String!, $from: DateTime!, $to: DateTime!, $step: Int!) {
  serviceMetrics(service: $service, from: $from, to: $to, step: $step) {
    __typename
    ... on ServiceMetrics {
      step truncated notes
      series { version requests points { time requests serverErrors clientErrors p50Ms p90Ms p99Ms } }
      annotations { time kind summary actor }
    }
    ... on Error { message }
  }
}`;
const RANGES = [['900', 'Last 15 minutes', 15], ['3600', 'Last hour', 60], ['86400', 'Last day', 900]];
const COLORS = ['#2458c6', '#d9480f', '#2b8a3e', '#862e9c', '#c2255c', '#0b7285'];
const W = 560;
const H = 170;
const PAD = { l: 44, r: 10, t: 10, b: 22 };

function Chart({ title, series, annotations, from, to, unit }) {
  const max = Math.max(1, ...series.flatMap((s) => s.points.map((p) => p[1] ?? 0)));
  const x = (t) => PAD.l + ((t - from) / Math.max(1, to - from)) * (W - PAD.l - PAD.r);
  const y = (v) => H - PAD.b - (v / max) * (H - PAD.t - PAD.b);
  const fmt = (t) => new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  return (
    <figure class="chart">
      <figcaption><strong>{title}</strong></figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${title}: ${series.map((s) => `${s.label} peak ${Math.max(0, ...s.points.map((p) => p[1] ?? 0)).toFixed(1)} ${unit}`).join('; ')}`}>
        {[0, 0.5, 1].map((f) => (
          <g key={f}>
            <line x1={PAD.l} x2={W - PAD.r} y1={y(max * f)} y2={y(max * f)} stroke="#e5e7eb" />
            <text x={PAD.l - 4} y={y(max * f) + 4} font-size="10" text-anchor="end" fill="#5b6575">{(max * f).toFixed(max < 10 ? 1 : 0)}</text>
          </g>
        ))}
        <text x={PAD.l} y={H - 6} font-size="10" fill="#5b6575">{fmt(from)}</text>
        <text x={W - PAD.r} y={H - 6} font-size="10" text-anchor="end" fill="#5b6575">{fmt(to)}</text>
        {annotations.map((a, i) => (
          <g key={i}>
            <line x1={x(a.t)} x2={x(a.t)} y1={PAD.t} y2={H - PAD.b} stroke="#f59e0b" stroke-dasharray="3 3" />
            <title>{`${a.kind}: ${a.summary}`}</title>
          </g>
        ))}
        {series.map((s, i) => {
          const known = s.points.filter((p) => p[1] !== null);
          const color = COLORS[i % COLORS.length];
          return (
            <g key={s.label}>
              <polyline
                fill="none"
                stroke={color}
                stroke-width="2"
                points={known.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(' ')}
              />
              {/* dots, so a value between two empty steps still shows */}
              {known.filter((p) => p[1] > 0).map((p) => (
                <circle key={p[0]} cx={x(p[0]).toFixed(1)} cy={y(p[1]).toFixed(1)} r="2.5" fill={color} />
              ))}
            </g>
          );
        })}
      </svg>
      <div class="legend">
        {series.map((s, i) => <span key={s.label} style={{ '--c': COLORS[i % COLORS.length] }}>{s.label}</span>)}
      </div>
    </figure>
  );
}

export function Monitoring({ service }) {
  const [range, setRange] = useState('3600');
  const [tick, setTick] = useState(0);
  const spec = RANGES.find((r) => r[0] === range);
  const { data, error, loading } = useAsync(() => {
    const to = new Date();
    const from = new Date(to.getTime() - Number(range) * 1000);
    return gql(METRICS, { service: service.name, from: from.toISOString(), to: to.toISOString(), step: spec[2] }).then((d) => ({ ...d, from, to }));
  }, [service.name, range, tick]);
  const m = data?.serviceMetrics;
  if (m && m.__typename !== 'ServiceMetrics') return <ErrorText error={new Error(m.message)} />;
  const from = data?.from.getTime();
  const to = data?.to.getTime();
  const series = (pick) =>
    (m?.series || []).map((s) => ({
      label: s.version === null ? 'no version' : `V${s.version}`,
      points: s.points.map((p) => [new Date(p.time).getTime(), pick(p)]),
    }));
  const annotations = (m?.annotations || []).map((a) => ({ ...a, t: new Date(a.time).getTime() }));
  return (
    <div class="stack">
      <div class="filters">
        <div class="field">
          <label for="metrics-range">Time range</label>
          <select id="metrics-range" value={range} onChange={(e) => setRange(e.currentTarget.value)}>
            {RANGES.map(([v, text]) => <option key={v} value={v}>{text}</option>)}
          </select>
        </div>
        <button type="button" onClick={() => setTick(tick + 1)}>Refresh</button>
      </div>
      <ErrorText error={error} />
      {loading && !data && <Loading what="Loading metrics" />}
      {m && (
        <>
          {m.notes.map((n) => <p key={n} class="muted small-text">{n}</p>)}
          {m.series.length === 0 && <Empty>No requests in this range.</Empty>}
          <div class="charts">
            <Chart title="Requests per step" unit="requests" series={series((p) => p.requests)} annotations={annotations} from={from} to={to} />
            <Chart title="Latency p90 (ms)" unit="ms" series={series((p) => p.p90Ms)} annotations={annotations} from={from} to={to} />
            <Chart title="Errors (4xx + 5xx)" unit="errors" series={series((p) => p.serverErrors + p.clientErrors)} annotations={annotations} from={from} to={to} />
          </div>
          <h3>Annotations</h3>
          {annotations.length === 0 ? (
            <p class="muted">No deploys or changes in this range.</p>
          ) : (
            <ul class="annotations" aria-label="Annotations">
              {annotations.map((a, i) => (
                <li key={i}><time dateTime={a.time}>{new Date(a.t).toLocaleTimeString()}</time> · <strong>{a.kind}</strong> · {a.summary} · {a.actor}</li>
              ))}
            </ul>
          )}
        </>
      )}
    </div>
  );
}

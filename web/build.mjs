// Builds the console into dist/: hashed bundles under dist/assets/ and an index.html naming them.
import { build } from 'esbuild';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';

const out = new URL('./dist/', import.meta.url).pathname;
await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });

const result = await build({
  entryPoints: { app: 'src/main.jsx' },
  bundle: true,
  minify: true,
  sourcemap: true,
  format: 'esm',
  target: ['chrome110', 'firefox110', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  entryNames: '[name]-[hash]',
  outdir: `${out}assets`,
  metafile: true,
  logLevel: 'warning',
});

const outputs = Object.keys(result.metafile.outputs).map((p) => basename(p));
const js = outputs.find((f) => f.endsWith('.js'));
const css = outputs.find((f) => f.endsWith('.css'));
const template = await readFile(new URL('./src/index.html', import.meta.url), 'utf8');
const html = template
  .replace('<!-- styles -->', css ? `<link rel="stylesheet" href="/assets/${css}">` : '')
  .replace('<!-- script -->', `<script type="module" src="/assets/${js}"></script>`);
await writeFile(`${out}index.html`, html);
console.log(`console built: dist/index.html, assets/${js}${css ? `, assets/${css}` : ''}`);

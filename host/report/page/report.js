// The report page: reads the JSON data section (written by `distill report`,
// format documented in docs/report.md) and builds the tables and Chart.js
// charts. Values that are not finite arrive as the strings "nan", "inf" and
// "-inf": they are left out of the curves (a gap) and listed under the chart.
(function () {
  'use strict';

  const data = JSON.parse(document.getElementById('distill-data').textContent);
  const statusBox = document.getElementById('report-status');
  const errorList = document.getElementById('report-errors');
  const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf',
                   '#bcbd22', '#7f7f7f', '#393b79', '#ad494a', '#637939', '#e7ba52', '#7b4173', '#3182bd'];
  const charts = [];  // {chart, log: bool}
  let building = true;

  // ---- small helpers ------------------------------------------------------

  function el(tag, attrs, children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null) continue;
      if (k === 'text') node.textContent = v; else node.setAttribute(k, v);
    }
    for (const child of children || []) node.appendChild(typeof child === 'string' ? document.createTextNode(child) : child);
    return node;
  }

  // A stored value as a number for a chart; non-finite and missing -> null.
  function num(v) { return typeof v === 'number' ? v : null; }
  function isNonFinite(v) { return v === 'nan' || v === 'inf' || v === '-inf'; }
  // Epochs are shown counted from 1, as on the console; the data section keeps
  // the database's 0-based numbers.
  function shownEpoch(e) { return e + 1; }

  function fmt(v) {
    if (v === null || v === undefined) return '–';
    if (typeof v !== 'number') return String(v);
    if (Number.isInteger(v)) return String(v);
    const a = Math.abs(v);
    if (a !== 0 && (a >= 1e5 || a < 1e-3)) return v.toExponential(4);
    return String(Number(v.toPrecision(6)));
  }

  function fmtDuration(s) {
    if (typeof s !== 'number') return '–';
    const t = Math.round(s), h = Math.floor(t / 3600), m = Math.floor((t % 3600) / 60), sec = t % 60;
    return (h ? h + 'h' : '') + (h || m ? String(m).padStart(h ? 2 : 1, '0') + 'm' : '') +
           String(sec).padStart(h || m ? 2 : 1, '0') + 's';
  }

  // {"columns": [...], "rows": [[...]]} -> [{column: value}]
  function rowsOf(table) {
    if (!table) return [];
    return table.rows.map(function (row) {
      const o = {};
      table.columns.forEach(function (c, i) { o[c] = row[i]; });
      return o;
    });
  }

  function makeTable(headers, rows, rowClass) {
    const head = headers ? el('tr', {}, headers.map(function (h) { return el('th', { text: h }); })) : null;
    const body = rows.map(function (cells, i) {
      return el('tr', { class: rowClass ? rowClass(i) : null }, cells.map(function (c) {
        if (c instanceof Node) return el('td', {}, [c]);
        return el('td', { class: typeof c === 'number' ? 'num' : null, text: fmt(c) });
      }));
    });
    return el('table', {}, (head ? [el('thead', {}, [head])] : []).concat([el('tbody', {}, body)]));
  }

  function runLabel(run) {
    return data.runs.length > 1 ? 'run ' + run.id + (run.trial_index !== null ? ' (trial ' + run.trial_index + ')' : '') + ' ' : '';
  }

  function color(i, alpha) {
    const c = PALETTE[i % PALETTE.length];
    if (alpha === undefined) return c;
    const n = parseInt(c.slice(1), 16);
    return 'rgba(' + (n >> 16) + ',' + ((n >> 8) & 255) + ',' + (n & 255) + ',' + alpha + ')';
  }

  // ---- status: every chart drew --------------------------------------------

  function updateStatus() {
    const canvases = document.querySelectorAll('#charts canvas');
    let drawn = 0;
    canvases.forEach(function (c) { if (c.dataset.drawn === '1' && Number(c.dataset.ink) > 0) drawn++; });
    statusBox.dataset.chartsExpected = String(charts.length);
    statusBox.dataset.chartsDrawn = String(drawn);
    if (errorList.children.length > 0) statusBox.dataset.state = 'error';
    else if (building) statusBox.dataset.state = 'loading';
    else statusBox.dataset.state = drawn === charts.length && canvases.length === charts.length ? 'ready' : 'incomplete';
    statusBox.textContent = charts.length + ' charts, ' + drawn + ' drawn';
  }

  // After each render, count the canvas pixels that are not transparent: a
  // chart that drew nothing has none.
  Chart.register({
    id: 'distillDrawCheck',
    afterRender: function (chart) {
      const c = chart.canvas;
      const pixels = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let ink = 0;
      for (let i = 3; i < pixels.length; i += 4 * 5) if (pixels[i] !== 0) ink++;
      c.dataset.drawn = '1';
      c.dataset.ink = String(ink);
      updateStatus();
    }
  });

  // ---- header, notes, runs, parameters -------------------------------------

  document.getElementById('generated').textContent =
    'generated ' + data.generated_at + ' from ' + data.database + '. Values: ' + data.encoding + '.';
  const notes = document.getElementById('notes');
  for (const n of data.notes) notes.appendChild(el('li', { text: n }));

  // One run: its card. Several: one line each, the cards folded away.
  const runsSection = document.getElementById('runs');
  const cards = el('div', { class: 'cards' });
  if (data.runs.length === 1) {
    runsSection.appendChild(cards);
  } else {
    runsSection.appendChild(makeTable(['run', 'experiment', 'status', 'trial', 'device', 'duration', 'seed',
                                       data.rank_by.name, 'events'],
      data.runs.map(function (r) {
        return [r.id, r.experiment, r.status, r.trial_index, r.device, fmtDuration(r.duration_s), r.seed, r.rank_value,
                r.tables.events.rows.length];
      })));
    runsSection.appendChild(el('details', {}, [el('summary', { text: 'each run: identity, plugins with library hashes, events' }), cards]));
  }
  for (const run of data.runs) {
    const card = el('div', { class: 'card', id: 'run-' + run.id });
    card.appendChild(el('h3', {}, ['run ' + run.id + ': ' + run.experiment + ' ',
                                   el('span', { class: 'status-' + run.status, text: '[' + run.status + ']' })]));
    const info = [['status', run.status], ['device', run.device], ['duration', fmtDuration(run.duration_s)],
                  ['seed', run.seed], ['uuid', run.uuid], ['started', run.started_at], ['ended', run.ended_at],
                  ['distill', run.host_version]];
    if (run.sweep_id !== null) info.push(['sweep', 'sweep ' + run.sweep_id + ', trial ' + run.trial_index]);
    if (run.error) info.push(['error', run.error]);
    card.appendChild(makeTable(null, info));
    card.appendChild(el('h3', { text: 'plugins' }));
    card.appendChild(makeTable(['role', 'plugin', 'version', 'weight', 'library sha256', 'library'],
      run.plugins.map(function (p) {
        return [p.role, p.plugin_id, p.version, p.weight, el('span', { class: 'mono', title: p.library_sha256, text: p.library_sha256.slice(0, 16) }),
                el('span', { class: 'mono', text: p.library_path })];
      })));
    const events = rowsOf(run.tables.events);
    card.appendChild(el('h3', { text: 'events (' + events.length + ')' }));
    const list = el('ul', { class: 'events' });
    for (const e of events) {
      const where = (e.epoch !== null ? 'epoch ' + shownEpoch(e.epoch) : '') + (e.step !== null ? ' step ' + e.step : '');
      list.appendChild(el('li', {}, [el('b', { text: e.kind }), ' ' + (where ? where + ': ' : '') + e.message + ' ',
                                     el('span', { class: 'mono', text: e.at })]));
    }
    if (events.length === 0) list.appendChild(el('li', { text: 'none' }));
    card.appendChild(list);
    cards.appendChild(card);
  }

  const paramsSection = document.getElementById('params');
  paramsSection.appendChild(el('p', {
    text: data.runs.length === 1 ? 'Every resolved setting of the run.'
                                 : 'The resolved settings whose values differ between the runs shown (the others are equal).'
  }));
  if (data.params_shown.length === 0) {
    paramsSection.appendChild(el('p', { class: 'note', text: 'No setting differs between the runs shown.' }));
  } else {
    paramsSection.appendChild(makeTable(['key'].concat(data.runs.map(function (r) { return 'run ' + r.id; })),
      data.params_shown.map(function (key) {
        return [el('span', { class: 'mono', text: key })].concat(data.runs.map(function (r) {
          return key in r.params ? r.params[key] : '(unset)';
        }));
      })));
  }

  // ---- sweep: trials ranked ------------------------------------------------

  const metric = data.rank_by.name;
  if (data.sweep) {
    const s = data.sweep;
    const section = document.getElementById('sweep');
    section.hidden = false;
    section.querySelector('h2').textContent = 'Sweep ' + s.id + ' (' + s.name + '): ' + s.trials.length + ' trials ranked by ' + metric;
    section.appendChild(el('p', { text: 'Ranked by ' + data.rank_by.description + ', lowest first; the best trial is highlighted.' }));
    const bestRun = s.best_run_id;
    section.appendChild(makeTable(['rank', 'trial', 'run', 'status', metric].concat(data.rank_by.per_epoch ? ['at epoch'] : [], s.keys),
      s.trials.map(function (t) {
        return [t.rank, t.trial_index, t.run_id, t.status, t.value].concat(data.rank_by.per_epoch ? [t.epoch === null ? null : shownEpoch(t.epoch)] : [],
          s.keys.map(function (k) { return k in t.params ? t.params[k] : '–'; }));
      }),
      function (i) { return s.trials[i].run_id === bestRun ? 'best' : null; }));
  }

  // ---- charts ---------------------------------------------------------------

  const grid = el('div', { class: 'chart-grid' });
  document.getElementById('charts').appendChild(grid);
  const logBox = document.getElementById('log-scale');

  function tooltipLabel(ctx) {
    const p = ctx.raw || {};
    if (p.event) return p.event.kind + (p.event.message ? ': ' + p.event.message : '');
    return ctx.dataset.label + ': ' + fmt(p.y);
  }

  function options(xTitle, yTitle, logCapable, extra) {
    const o = {
      animation: false, responsive: true, maintainAspectRatio: false, spanGaps: false,
      interaction: { mode: 'nearest', intersect: false },
      elements: { point: { radius: 2 }, line: { borderWidth: 1.5 } },
      scales: {
        x: { type: 'linear', title: { display: true, text: xTitle } },
        y: { type: logCapable && logBox.checked ? 'logarithmic' : 'linear', title: { display: true, text: yTitle } }
      },
      plugins: { legend: { labels: { boxWidth: 14 } }, tooltip: { callbacks: { label: tooltipLabel } } }
    };
    return Object.assign(o, extra || {});
  }

  function addChart(title, datasets, opts, logCapable, chartNotes) {
    const box = el('div', { class: 'canvas-box' });
    const canvas = el('canvas', { role: 'img', 'aria-label': title });
    box.appendChild(canvas);
    const div = el('div', { class: 'chart' }, [el('h3', { text: title }), box]);
    if (chartNotes && chartNotes.length) {
      const shown = chartNotes.slice(0, 12);
      div.appendChild(el('p', { class: 'chart-notes', text: 'Not drawn (not finite): ' + shown.join('; ') +
        (chartNotes.length > shown.length ? '; and ' + (chartNotes.length - shown.length) + ' more' : '') }));
    }
    grid.appendChild(div);
    const entry = { chart: null, log: logCapable };
    charts.push(entry);
    entry.chart = new Chart(canvas, { type: 'line', data: { datasets: datasets }, options: opts });
    return entry.chart;
  }

  // Points {x, y} of `rows`, noting the non-finite values of `column`.
  function series(rows, xOf, column, noteOut, where) {
    return rows.map(function (r) {
      const v = r[column];
      if (isNonFinite(v)) noteOut.push(where(r) + ' ' + column + ' = ' + v);
      return { x: xOf(r), y: num(v) };
    });
  }

  // Event markers: events of the run placed at their position on a curve
  // (or at the top of the chart when the curve has no finite value there).
  function eventMarkers(run, xOfEvent, curve, label, colorIndex) {
    const points = [];
    const finite = curve.filter(function (p) { return p.y !== null; }).map(function (p) { return p.y; });
    const top = finite.length ? Math.max.apply(null, finite) : 1;
    for (const e of rowsOf(run.tables.events)) {
      const x = xOfEvent(e);
      if (x === null) continue;
      let y = null;
      for (const p of curve) if (p.x === x && p.y !== null) y = p.y;
      points.push({ x: x, y: y === null ? top : y, event: e });
    }
    if (!points.length) return null;
    return { label: label, data: points, showLine: false, pointStyle: 'triangle', pointRadius: 7, pointHoverRadius: 9,
             borderColor: '#000', backgroundColor: color(colorIndex, 0.8) };
  }

  const hasEpochs = data.runs.some(function (r) { return r.tables.epoch_metrics.rows.length > 0; });
  const hasSteps = data.runs.some(function (r) { return r.tables.step_metrics.rows.length > 0; });

  if (hasEpochs) {
    // Train and validation totals per epoch, events marked.
    const ds = [], chartNotes = [];
    data.runs.forEach(function (run, i) {
      const rows = rowsOf(run.tables.epoch_metrics);
      const where = function (r) { return runLabel(run) + 'epoch ' + shownEpoch(r.epoch); };
      const train = series(rows, function (r) { return shownEpoch(r.epoch); }, 'train_loss', chartNotes, where);
      const val = series(rows, function (r) { return shownEpoch(r.epoch); }, 'val_loss', chartNotes, where);
      ds.push({ label: runLabel(run) + 'train', data: train, borderColor: color(i), backgroundColor: color(i) });
      ds.push({ label: runLabel(run) + 'val', data: val, borderColor: color(i), backgroundColor: color(i), borderDash: [6, 3] });
      const marks = eventMarkers(run, function (e) { return e.epoch === null ? null : shownEpoch(e.epoch); }, val, runLabel(run) + 'events', i);
      if (marks) ds.push(marks);
    });
    addChart('Train and validation loss per epoch', ds, options('epoch', 'loss', true), true, chartNotes);

    // The ranking metric per epoch, every trial overlaid.
    if (data.sweep && data.rank_by.per_epoch && metric !== 'val_loss' && metric !== 'train_loss') {
      const mds = [], mnotes = [];
      data.runs.forEach(function (run, i) {
        const rows = rowsOf(run.tables.epoch_metrics);
        mds.push({ label: runLabel(run), data: series(rows, function (r) { return shownEpoch(r.epoch); }, metric, mnotes,
          function (r) { return runLabel(run) + 'epoch ' + shownEpoch(r.epoch); }), borderColor: color(i), backgroundColor: color(i) });
      });
      addChart(metric + ' per epoch (the ranking metric)', mds, options('epoch', metric, true), true, mnotes);
    }
  }

  // Every loss term per epoch, raw and weighted: train values are the mean
  // over the epoch's steps (finite ones), val values are per epoch.
  const hasTerms = data.runs.some(function (r) { return r.tables.loss_terms.rows.length > 0; });
  if (hasTerms) {
    const termNames = [];
    data.runs.forEach(function (run) {
      for (const r of rowsOf(run.tables.loss_terms)) if (!termNames.includes(r.term)) termNames.push(r.term);
    });
    // Several runs: one term at a time (a select above the charts), or the
    // legends would list runs x terms x splits.
    const several = data.runs.length > 1;
    const termCharts = [];
    if (several) {
      const select = el('select', { id: 'term-select' }, termNames.map(function (t) { return el('option', { value: t, text: t }); }));
      grid.appendChild(el('div', { class: 'term-picker' }, [el('label', {}, ['loss term shown in the two charts below: ', select])]));
      select.addEventListener('change', function () {
        for (const chart of termCharts) {
          for (const d of chart.data.datasets) d.hidden = d.term !== select.value;
          chart.update();
        }
      });
    }
    ['raw', 'weighted'].forEach(function (kind) {
      const ds = [], chartNotes = [];
      data.runs.forEach(function (run, runIndex) {
        const groups = new Map();  // "split\tterm" -> Map(epoch -> {sum, n})
        for (const r of rowsOf(run.tables.loss_terms)) {
          const key = r.split + '\t' + r.term;
          if (!groups.has(key)) groups.set(key, new Map());
          const byEpoch = groups.get(key);
          if (!byEpoch.has(r.epoch)) byEpoch.set(r.epoch, { sum: 0, n: 0 });
          const acc = byEpoch.get(r.epoch);
          const v = r[kind];
          if (typeof v === 'number') { acc.sum += v; acc.n++; }
          else if (isNonFinite(v)) chartNotes.push(runLabel(run) + r.term + ' ' + r.split + ' epoch ' + shownEpoch(r.epoch) +
                                                 (r.step !== null ? ' step ' + r.step : '') + ' = ' + v);
        }
        for (const key of Array.from(groups.keys()).sort()) {
          const [split, term] = key.split('\t');
          const points = Array.from(groups.get(key).entries()).sort(function (a, b) { return a[0] - b[0]; })
            .map(function (e) { return { x: shownEpoch(e[0]), y: e[1].n ? e[1].sum / e[1].n : null }; });
          const c = runIndex * termNames.length + termNames.indexOf(term);  // train and val of a term share a colour
          ds.push({ label: runLabel(run) + term + ' ' + split + (split === 'train' ? ' (mean)' : ''), data: points,
                    borderColor: color(several ? runIndex : c), backgroundColor: color(several ? runIndex : c),
                    borderDash: split === 'val' ? [6, 3] : [], term: term, hidden: several && term !== termNames[0] });
        }
      });
      const o = options('epoch', kind + ' value', true);
      o.plugins.legend.labels.filter = function (item) { return !item.hidden; };
      termCharts.push(addChart('Loss terms per epoch, ' + kind, ds, o, true, chartNotes));
    });
  }

  if (hasSteps) {
    // Step-level train loss: raw (faint) and smoothed (exponential moving
    // average with bias correction, as TensorBoard does).
    const slider = document.getElementById('smoothing');
    const ds = [], chartNotes = [], raws = [];
    data.runs.forEach(function (run, i) {
      const rows = rowsOf(run.tables.step_metrics);
      const xOf = function (r) { return r.epoch * r.total_steps + r.step; };
      const raw = series(rows, xOf, 'train_loss', chartNotes, function (r) { return runLabel(run) + 'epoch ' + shownEpoch(r.epoch) + ' step ' + r.step; });
      raws.push(raw);
      ds.push({ label: runLabel(run) + 'train (raw)', data: raw, borderColor: color(i, 0.3), backgroundColor: color(i, 0.3), pointRadius: 0 });
      ds.push({ label: runLabel(run) + 'train (smoothed)', data: [], borderColor: color(i), backgroundColor: color(i), pointRadius: 0, smoothed: raws.length - 1 });
      const stepsPer = rows.length ? rows[0].total_steps : 0;
      const marks = eventMarkers(run, function (e) {
        return e.epoch === null ? null : e.epoch * stepsPer + (e.step === null ? 0 : e.step);
      }, raw, runLabel(run) + 'events', i);
      if (marks) ds.push(marks);
    });
    const smooth = function (chart) {
      const w = Number(slider.value);
      document.getElementById('smoothing-value').textContent = slider.value;
      for (const d of chart.data.datasets) {
        if (d.smoothed === undefined) continue;
        let last = 0, n = 0;
        d.data = raws[d.smoothed].map(function (p) {
          if (p.y === null) return { x: p.x, y: null };
          last = last * w + (1 - w) * p.y;
          n++;
          return { x: p.x, y: last / (1 - Math.pow(w, n)) };
        });
      }
    };
    const probe = { data: { datasets: ds } };
    smooth(probe);
    const stepChart = addChart('Train loss per step', ds, options('optimizer step (epoch × steps + step)', 'train loss', true), true, chartNotes);
    slider.addEventListener('input', function () { smooth(stepChart); stepChart.update(); });

    // Learning rate and KL weight per step.
    const lds = [];
    data.runs.forEach(function (run, i) {
      const rows = rowsOf(run.tables.step_metrics);
      const xOf = function (r) { return r.epoch * r.total_steps + r.step; };
      const ignore = [];
      const where = function () { return ''; };
      lds.push({ label: runLabel(run) + 'learning rate', data: series(rows, xOf, 'learning_rate', ignore, where),
                 borderColor: color(i), backgroundColor: color(i), pointRadius: 0, yAxisID: 'y' });
      lds.push({ label: runLabel(run) + 'KL weight', data: series(rows, xOf, 'kl_weight', ignore, where),
                 borderColor: color(i + 1), backgroundColor: color(i + 1), borderDash: [4, 3], pointRadius: 0, yAxisID: 'y1' });
    });
    const lopts = options('optimizer step', 'learning rate', false);
    lopts.scales.y1 = { type: 'linear', position: 'right', title: { display: true, text: 'KL weight' }, grid: { drawOnChartArea: false } };
    addChart('Learning rate and KL weight per step', lds, lopts, false, []);
  }

  // Each swept key against the ranking metric.
  if (data.sweep) {
    for (const key of data.sweep.keys) {
      const trials = data.sweep.trials.filter(function (t) { return key in t.params; });
      const numeric = trials.length > 0 && trials.every(function (t) {
        return t.params[key].trim() !== '' && isFinite(Number(t.params[key]));
      });
      const missing = [];
      const points = trials.map(function (t) {
        if (typeof t.value !== 'number') missing.push('trial ' + t.trial_index + ' ' + metric + ' = ' + (t.value === null ? 'none' : t.value));
        return { x: numeric ? Number(t.params[key]) : t.params[key], y: num(t.value), trial: t };
      });
      const best = points.map(function (p) { return p.trial.run_id === data.sweep.best_run_id; });
      const o = options(key, metric, true);
      o.interaction = { mode: 'nearest', intersect: true };
      if (numeric) {
        const xs = points.map(function (p) { return p.x; });
        const positive = xs.every(function (x) { return x > 0; });
        if (positive && Math.max.apply(null, xs) / Math.min.apply(null, xs) >= 100) o.scales.x.type = 'logarithmic';
      } else {
        o.scales.x = { type: 'category', labels: Array.from(new Set(points.map(function (p) { return p.x; }))), title: { display: true, text: key } };
      }
      o.plugins.tooltip.callbacks.label = function (ctx) {
        const t = ctx.raw.trial;
        return 'trial ' + t.trial_index + ' (run ' + t.run_id + '): ' + key + ' = ' + t.params[key] + ', ' + metric + ' = ' + fmt(t.value);
      };
      addChart(key + ' against ' + metric, [{
        label: metric + ' by ' + key, data: points, showLine: false,
        pointRadius: best.map(function (b) { return b ? 8 : 5; }),
        pointBackgroundColor: best.map(function (b) { return b ? '#f2b600' : color(0, 0.7); }),
        borderColor: '#333'
      }], o, true, missing);
    }
  }

  if (charts.length === 0) {
    document.getElementById('charts').appendChild(el('p', { class: 'note', text: 'Nothing to chart yet: no metrics rows were recorded for the runs shown.' }));
  }

  logBox.addEventListener('change', function () {
    for (const c of charts) {
      if (!c.log) continue;
      c.chart.options.scales.y.type = logBox.checked ? 'logarithmic' : 'linear';
      c.chart.update();
    }
  });

  // ---- audio ------------------------------------------------------------------

  const audioRuns = data.runs.filter(function (r) { return r.audio.length > 0; });
  if (audioRuns.length) {
    const section = document.getElementById('audio');
    section.hidden = false;
    for (const run of audioRuns) {
      section.appendChild(el('h3', { text: 'run ' + run.id }));
      for (const a of run.audio) {
        section.appendChild(el('div', {}, [el('span', { class: 'mono', text: a.path }),
                                           el('audio', { controls: '', preload: 'none', src: a.src })]));
      }
    }
  }

  building = false;
  updateStatus();
})();

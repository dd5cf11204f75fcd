// The fixedbrot explorer. It never does arithmetic on the plane: the centre and zoom are the
// server's decimal text, tiles are addressed by whole numbers (BigInt) on the server's pixel
// lattice, and the page moves them by whole pixels. So it goes as deep as `render` does.
'use strict';
(() => {
  const TILE = 256;
  // Coarse tiles, every COARSE-th pixel of the same lattice, cover the window first.
  const COARSE = 8;
  const $ = (id) => document.getElementById(id);
  const view = $('view'), layer = $('layer'), backdrop = $('backdrop'), coarseLayer = $('coarse');

  // What the URL asks for; c and z become the server's canonical text once answered.
  const url = new URLSearchParams(location.search);
  const DEFAULTS = { c: '-0.6,0', z: '1.6', n: 'auto', p: 'ultra', f: 'auto', k: 'auto' };
  const ask = {};
  for (const key of Object.keys(DEFAULTS)) ask[key] = url.get(key) || DEFAULTS[key];

  let place = null;          // the anchor: the server's answer for the place tiles are of
  let width = 0, height = 0; // the window the anchor's step is of
  let ox = 0, oy = 0;        // the screen's centre pixel less the anchor's, in pixels
  let backdropAt = '';       // where the old tiles shown until new ones come are, at ox = 0
  const tiles = new Map();   // "x,y" -> { el, controller, done }
  const coarse = new Map();  // the same, of coarse tiles, while fine ones are missing

  // Timings for the benchmarks and the tests (Performance API: ms since navigation).
  const stats = window.explorerStats = { views: [], errors: [] };
  let current = null;        // the entry of stats.views for the tiles now wanted

  const base = () => ({ c: place.c, z: place.z, h: String(height), n: ask.n, f: ask.f, k: ask.k });

  // A fetch that asks again, for a while, when the server is busy (503) or its connection
  // was refused or reset (the server makes room by closing the quietest): unless aborted.
  async function fetchAgain(address, signal) {
    for (let attempt = 1; ; attempt++) {
      let response = null;
      try {
        response = await fetch(address, { signal });
      } catch (error) {
        if ((signal && signal.aborted) || attempt >= 30) throw error;
      }
      if (response && (response.status !== 503 || attempt >= 30)) return response;
      await new Promise((resolve) => setTimeout(resolve, 100 * attempt));
      if (signal && signal.aborted) throw new DOMException('the tile has gone', 'AbortError');
    }
  }

  async function placeOf(params) {
    const response = await fetchAgain('/api/place?' + new URLSearchParams(params));
    if (!response.ok) throw new Error((await response.text()).trim());
    return response.json();
  }

  function floorDiv(a, b) {
    const q = a / b;
    return (a % b !== 0n && (a < 0n) !== (b < 0n)) ? q - 1n : q;
  }

  // Makes `answer` the anchor: its tiles replace the old ones (kept as a backdrop, scaled
  // by `preview` if given, until the new ones are in).
  function anchor(answer, started, preview) {
    backdrop.replaceChildren();
    backdropAt = preview || '';
    if (preview) {
      for (const entry of tiles.values()) if (entry.done) backdrop.appendChild(entry.el);
    }
    for (const entry of tiles.values()) drop(entry);
    tiles.clear();
    for (const entry of coarse.values()) drop(entry);
    coarse.clear();
    place = answer;
    ox = oy = 0;
    ask.c = answer.c;
    ask.z = answer.z;
    current = { started, firstTile: null, firstFine: null, complete: null, tiles: 0 };
    stats.views.push(current);
    show(answer);
    update();
  }

  function drop(entry) {
    entry.controller.abort();
    entry.el.remove();
    const img = entry.el.querySelector('img');
    if (img && !backdrop.contains(entry.el)) URL.revokeObjectURL(img.src);
  }

  // The tiles of `scale` on the screen, nearest the centre first.
  function onScreen(scale) {
    const halfW = Math.floor(width / 2), halfH = Math.floor(height / 2);
    const side = BigInt(TILE * scale);
    const left = BigInt(place.column) + BigInt(ox - halfW);
    const top = BigInt(place.row) + BigInt(oy - halfH);
    const wanted = [];
    for (let y = floorDiv(top, side); y <= floorDiv(top + BigInt(height - 1), side); y++) {
      for (let x = floorDiv(left, side); x <= floorDiv(left + BigInt(width - 1), side); x++) {
        const cx = Number(x * side - left) + TILE * scale / 2 - halfW;
        const cy = Number(y * side - top) + TILE * scale / 2 - halfH;
        wanted.push({ x, y, key: `${x},${y}`, distance: cx * cx + cy * cy });
      }
    }
    return wanted.sort((a, b) => a.distance - b.distance);
  }

  // Asks for the tiles on the screen and cancels the rest; coarse ones first while any fine
  // one is missing.
  function update() {
    const halfW = Math.floor(width / 2), halfH = Math.floor(height / 2);
    const shift = `translate(${halfW - ox}px, ${halfH - oy}px)`;
    layer.style.transform = shift;
    coarseLayer.style.transform = shift;
    backdrop.style.transform = `translate(${-ox}px, ${-oy}px) ${backdropAt}`;
    const fine = onScreen(1);
    const missing = fine.some((t) => !(tiles.get(t.key) || {}).done);
    keep(coarse, missing ? onScreen(COARSE) : [], COARSE, coarseLayer);
    keep(tiles, fine, 1, layer);
    progress();
  }

  // Makes `map` hold the tiles `wanted` of `scale` in `into`, cancelling the rest.
  function keep(map, wanted, scale, into) {
    const keys = new Set(wanted.map((t) => t.key));
    for (const [key, entry] of map) {
      if (!keys.has(key)) { drop(entry); map.delete(key); }
    }
    for (const t of wanted) if (!map.has(t.key)) load(map, t, scale, into);
  }

  function load(map, { x, y, key }, scale, into) {
    const el = document.createElement('div');
    el.className = 'tile';
    const side = BigInt(TILE * scale);
    el.style.left = `${Number(x * side - BigInt(place.column))}px`;
    el.style.top = `${Number(y * side - BigInt(place.row))}px`;
    const entry = { el, controller: new AbortController(), done: false, scale };
    map.set(key, entry);
    into.appendChild(el);
    const params = new URLSearchParams({ ...base(), p: ask.p, x: String(x), y: String(y) });
    if (scale !== 1) params.set('s', String(scale));
    fetchTile('/api/tile?' + params, entry, current).catch((error) => {
      if (entry.controller.signal.aborted) return;
      stats.errors.push(String(error.message || error));
      status(error.message || String(error));
    });
  }

  async function fetchTile(address, entry, view) {
    const signal = entry.controller.signal;
    const response = await fetchAgain(address, signal);
    // 204: the tile has no pixel in the safe range.
    if (response.status !== 204) {
      if (!response.ok) throw new Error((await response.text()).trim());
      const [ax, ay] = (response.headers.get('x-tile-at') || '0,0').split(',').map(Number);
      const img = new Image();
      img.src = URL.createObjectURL(await response.blob());
      await img.decode();
      if (signal.aborted) { URL.revokeObjectURL(img.src); return; }
      const scale = entry.scale;
      img.style.left = `${ax * scale}px`;
      img.style.top = `${ay * scale}px`;
      if (scale !== 1) {
        img.style.width = `${img.naturalWidth * scale}px`;
        img.style.height = `${img.naturalHeight * scale}px`;
      }
      img.alt = '';
      const label = document.createElement('span');
      const timing = (response.headers.get('server-timing') || '').match(/dur=([\d.]+)/);
      label.textContent = `${response.headers.get('x-worker') || '?'}` +
        (timing ? ` · ${Math.round(Number(timing[1]))} ms` : '');
      entry.el.append(img, label);
    }
    entry.done = true;
    if (view.firstTile === null) view.firstTile = performance.now();
    if (entry.scale !== 1) return;
    if (view.firstFine === null) view.firstFine = performance.now();
    view.tiles++;
    update();
  }

  function progress() {
    let done = 0;
    for (const entry of tiles.values()) if (entry.done) done++;
    const complete = done === tiles.size;
    if (complete && current && current.complete === null) {
      current.complete = performance.now();
      backdrop.replaceChildren();
    }
    const took = current && current.complete !== null
      ? ` in ${Math.round(current.complete - current.started)} ms` : '';
    $('progress').textContent = `Tiles: ${done} of ${tiles.size}${took}`;
  }

  function show(answer) {
    const [re, im] = answer.c.split(',');
    $('centre-re').textContent = re;
    $('centre-im').textContent = `${im} i`;
    $('zoom').textContent = answer.z;
    $('iterations').textContent = `${answer.n}${answer.nAuto ? ' (auto)' : ''}`;
    $('format').textContent = answer.format;
    $('kernel').textContent = answer.kernel;
    status('');
    writeUrl();
  }

  function status(text) { $('status').textContent = text; }

  // The permalink: exact centre, zoom, iterations, palette, format (and kernel if chosen).
  function permalink() {
    const q = (v) => encodeURIComponent(v).replace(/%2C/g, ',');
    const kernel = ask.k === 'auto' ? '' : `&k=${q(ask.k)}`;
    return `?c=${q(ask.c)}&z=${q(ask.z)}&n=${q(ask.n)}&p=${q(ask.p)}&f=${q(ask.f)}${kernel}`;
  }

  function writeUrl() {
    history.replaceState(null, '', permalink());
    const w = $('download-width').value.trim(), h = $('download-height').value.trim();
    $('download').href = '/api/download?' + new URLSearchParams(
      { c: ask.c, z: ask.z, w, h, n: ask.n, f: ask.f, k: ask.k, p: ask.p });
  }

  // The centre after a pan, exact, for the URL and the panel; the anchor stays.
  let committing = null, commits = 0;
  function commit() {
    if (!place) return;
    // Every pan counts, one back to the anchor too: an earlier pan's answer is stale.
    const ticket = ++commits;
    if (ox === 0 && oy === 0) {
      ask.c = place.c;
      show(place);
      return;
    }
    const moved = { ...base(), dx: String(ox), dy: String(oy) };
    const from = place;
    committing = placeOf(moved).then((answer) => {
      // A zoom or a new setting since has a centre of its own, and a later pan's answer
      // (which may come first) is the newer centre.
      if (place !== from || ticket !== commits) return;
      ask.c = answer.c;
      show({ ...answer, n: place.n, nAuto: place.nAuto });
    }).catch((error) => status(error.message));
  }

  let zooming = false;
  async function zoomBy(doublings, sx, sy) {
    if (zooming || !place || doublings === 0) return;
    zooming = true;
    if (committing) await committing;
    const started = performance.now();
    const halfW = Math.floor(width / 2), halfH = Math.floor(height / 2);
    const ax = Math.round(sx) - halfW, ay = Math.round(sy) - halfH;
    const [fromX, fromY] = [ox, oy];
    try {
      const answer = await placeOf({ ...base(), dx: String(ox), dy: String(oy),
        zoom: String(doublings), ax: String(ax), ay: String(ay) });
      const scale = 2 ** doublings, px = halfW + ax, py = halfH + ay;
      // A pan made while the answer was coming is kept: screen pixels are the new anchor's.
      const [panX, panY] = [ox - fromX, oy - fromY];
      anchor(answer, started, `translate(${px}px, ${py}px) scale(${scale}) ` +
        `translate(${-px}px, ${-py}px) translate(${halfW - fromX}px, ${halfH - fromY}px)`);
      if (panX !== 0 || panY !== 0) {
        [ox, oy] = [panX, panY];
        if (drag) [drag.ox, drag.oy] = [drag.ox - fromX, drag.oy - fromY];
        update();
        if (!drag) commit();
      }
    } catch (error) {
      status(error.message);
    } finally {
      zooming = false;
    }
  }

  // Asks again from the URL's centre: a new window size, limit or format. A setting the
  // server refuses is put back, with its reason shown.
  let settled = { ...ask };
  async function restart() {
    if (committing) await committing;
    width = window.innerWidth;
    height = window.innerHeight;
    const started = performance.now();
    try {
      const asked = { c: ask.c, z: ask.z, h: String(height), n: ask.n, f: ask.f, k: ask.k, p: ask.p };
      anchor(await placeOf(asked), started);
      settled = { ...ask };
    } catch (error) {
      // A link the server refuses shows the default view, and why.
      const fallback = place === null && JSON.stringify(settled) !== JSON.stringify(DEFAULTS);
      Object.assign(ask, fallback ? DEFAULTS : settled);
      settled = { ...ask };
      $('ask-iterations').value = ask.n;
      $('ask-format').value = ask.f;
      $('palette').value = ask.p;
      if (fallback) await restart();
      status(fallback ? `${error.message}: the link's view cannot be drawn` : error.message);
    }
  }

  // Dragging and pinching.
  const pointers = new Map();
  let drag = null, pinch = null;
  view.addEventListener('pointerdown', (e) => {
    view.setPointerCapture(e.pointerId);
    pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
    if (pointers.size === 1) {
      drag = { x: e.clientX, y: e.clientY, ox, oy };
      view.classList.add('dragging');
    } else if (pointers.size === 2) {
      const [a, b] = [...pointers.values()];
      pinch = { distance: Math.hypot(a.x - b.x, a.y - b.y), x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
      drag = null;
    }
  });
  view.addEventListener('pointermove', (e) => {
    if (!pointers.has(e.pointerId)) return;
    pointers.set(e.pointerId, { x: e.clientX, y: e.clientY });
    if (drag && place) {
      ox = drag.ox - Math.round(e.clientX - drag.x);
      oy = drag.oy - Math.round(e.clientY - drag.y);
      update();
    }
  });
  const release = (e) => {
    if (!pointers.has(e.pointerId)) return;
    if (pinch && pointers.size === 2) {
      const [a, b] = [...pointers.values()];
      const ratio = Math.hypot(a.x - b.x, a.y - b.y) / Math.max(pinch.distance, 1);
      zoomBy(Math.round(Math.log2(ratio)), pinch.x, pinch.y);
      pinch = null;
    }
    pointers.delete(e.pointerId);
    if (drag) commit();
    drag = null;
    view.classList.remove('dragging');
  };
  view.addEventListener('pointerup', release);
  view.addEventListener('pointercancel', release);

  let wheel = 0;
  view.addEventListener('wheel', (e) => {
    e.preventDefault();
    wheel += e.deltaY * (e.deltaMode === 1 ? 40 : e.deltaMode === 2 ? 800 : 1);
    if (Math.abs(wheel) >= 50) {
      zoomBy(wheel < 0 ? 1 : -1, e.clientX, e.clientY);
      wheel = 0;
    }
  }, { passive: false });
  view.addEventListener('dblclick', (e) => zoomBy(e.shiftKey ? -1 : 1, e.clientX, e.clientY));
  view.addEventListener('keydown', (e) => {
    const moves = { ArrowLeft: [-64, 0], ArrowRight: [64, 0], ArrowUp: [0, -64], ArrowDown: [0, 64] };
    const [cx, cy] = [Math.floor(width / 2), Math.floor(height / 2)];
    if (e.key === '+' || e.key === '=') zoomBy(1, cx, cy);
    else if (e.key === '-') zoomBy(-1, cx, cy);
    else if (moves[e.key] && place) {
      ox += moves[e.key][0];
      oy += moves[e.key][1];
      update();
      commit();
    } else return;
    e.preventDefault();
  });

  // The panel.
  $('ask-iterations').value = ask.n;
  $('palette').value = ask.p;
  $('ask-format').value = ask.f;
  $('ask-iterations').addEventListener('change', (e) => {
    ask.n = e.target.value.trim() || 'auto';
    restart();
  });
  $('palette').addEventListener('change', (e) => { ask.p = e.target.value; restart(); });
  $('ask-format').addEventListener('change', (e) => { ask.f = e.target.value; restart(); });
  $('workers').addEventListener('change', (e) => view.classList.toggle('workers', e.target.checked));
  $('download-width').addEventListener('change', writeUrl);
  $('download-height').addEventListener('change', writeUrl);
  const copy = (text) => navigator.clipboard.writeText(text).then(
    () => status('Copied.'), () => status(text));
  // Everything `render` needs to draw this window's pixels.
  $('copy').addEventListener('click', () => copy(
    `--center ${ask.c} --zoom ${ask.z} --width ${width} --height ${height} ` +
    `--iterations ${place ? place.n : ask.n} --format ${ask.f} --kernel ${ask.k} --palette ${ask.p}`));
  $('copy-link').addEventListener('click', () => copy(location.href));

  let resizing = 0;
  window.addEventListener('resize', () => {
    clearTimeout(resizing);
    resizing = setTimeout(restart, 200);
  });

  view.focus();
  restart();
})();

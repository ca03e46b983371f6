// Keyboard-driven labelling: 1-4 (or y/n) pick a label for the focused criterion and move on,
// arrows (or j/k) move between criteria, Enter saves once every criterion has a label, s skips.
(() => {
  const token = document.querySelector('meta[name="judge-token"]').content;
  const fill = document.querySelector('.fill');
  if (fill) fill.style.width = (100 * Number(fill.dataset.ratio || 0)).toFixed(1) + '%';
  const item = document.getElementById('item');
  const form = document.getElementById('labels');
  if (!item || !form) return;
  const sets = Array.from(form.querySelectorAll('fieldset.criterion'));
  const status = document.getElementById('status');
  let current = 0;

  function focus(i) {
    current = Math.max(0, Math.min(sets.length - 1, i));
    sets.forEach((s, j) => s.classList.toggle('focus', j === current));
    sets[current].focus({ preventScroll: false });
  }
  function choose(i, index) {
    const radios = sets[i].querySelectorAll('input[type=radio]');
    if (index < 0 || index >= radios.length) return false;
    radios[index].checked = true;
    sets[i].classList.add('done');
    document.getElementById('save').classList.toggle('ready', labels() !== null);
    return true;
  }
  function byName(i, name) {
    const radios = Array.from(sets[i].querySelectorAll('input[type=radio]'));
    const k = radios.findIndex(r => r.value === name);
    return k >= 0 && choose(i, k);
  }
  function labels() {
    const out = {};
    for (const s of sets) {
      const checked = s.querySelector('input:checked');
      if (!checked) return null;
      out[s.dataset.criterion] = checked.value;
    }
    return out;
  }
  async function save() {
    const chosen = labels();
    if (!chosen) { status.textContent = 'choose a label for every criterion first'; return; }
    status.textContent = 'saving…';
    const response = await fetch('/api/label', {
      method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', 'X-Judge-Token': token },
      body: JSON.stringify({ task: item.dataset.task, item_key: item.dataset.key, labels: chosen,
                             note: document.getElementById('note').value }),
    });
    if (!response.ok) { status.textContent = 'not saved: ' + response.status + ' ' + await response.text(); return; }
    status.textContent = 'saved';
    window.location.assign('/');
  }
  sets.forEach((s, i) => s.addEventListener('click', () => {
    focus(i);
    if (s.querySelector('input:checked')) s.classList.add('done');
    document.getElementById('save').classList.toggle('ready', labels() !== null);
  }));
  form.addEventListener('submit', e => { e.preventDefault(); save(); });
  document.addEventListener('keydown', e => {
    if (e.target.tagName === 'TEXTAREA' || e.ctrlKey || e.metaKey || e.altKey) return;
    const k = e.key;
    if (/^[1-9]$/.test(k)) { if (choose(current, Number(k) - 1)) focus(current + 1); e.preventDefault(); }
    else if (k === 'y' || k === 'n') { if (byName(current, k === 'y' ? 'yes' : 'no')) focus(current + 1); e.preventDefault(); }
    else if (k === 'ArrowDown' || k === 'j') { focus(current + 1); e.preventDefault(); }
    else if (k === 'ArrowUp' || k === 'k') { focus(current - 1); e.preventDefault(); }
    else if (k === 'Enter') { save(); e.preventDefault(); }
    else if (k === 's') { document.getElementById('skip').click(); e.preventDefault(); }
  });
  focus(0);
})();

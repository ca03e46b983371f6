// Hovering or focusing a tag (in the tag table or in a recommendation's "retrieved by") highlights every
// recommended item that tag retrieved. No other behaviour: the page is complete without this script.
(() => {
  const rows = Array.from(document.querySelectorAll('[data-tag]')).filter(el => el.dataset.tag);
  const mark = tag => rows.forEach(el => el.classList.toggle('lit', tag !== null && el.dataset.tag === tag));
  rows.forEach(el => {
    el.addEventListener('mouseenter', () => mark(el.dataset.tag));
    el.addEventListener('focus', () => mark(el.dataset.tag));
    el.addEventListener('mouseleave', () => mark(null));
    el.addEventListener('blur', () => mark(null));
  });
})();

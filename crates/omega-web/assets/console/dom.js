// Small DOM helpers. Every piece of text goes in through text nodes (textContent), never
// through HTML parsing, so a message reading `<script>` is shown as those characters.

/** The SVG namespace, taken from a parsed SVG document rather than spelled as a URL. */
export const SVG_NS = new DOMParser().parseFromString(
  '<svg xmlns="http://www.w3.org/2000/svg"/>',
  'image/svg+xml',
).documentElement.namespaceURI;

function append(node, child) {
  if (child === null || child === undefined || child === false) return;
  if (Array.isArray(child)) {
    for (const item of child) append(node, item);
  } else if (child instanceof Node) {
    node.appendChild(child);
  } else {
    node.appendChild(document.createTextNode(String(child)));
  }
}

function apply(node, props) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') node.setAttribute('class', Array.isArray(value) ? value.filter(Boolean).join(' ') : value);
    else if (key === 'text') node.textContent = String(value);
    else if (key === 'on') for (const [event, fn] of Object.entries(value)) node.addEventListener(event, fn);
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key === 'value') node.value = value;
    else if (key === 'checked' || key === 'disabled' || key === 'selected' || key === 'required') node[key] = Boolean(value);
    else node.setAttribute(key, value === true ? '' : String(value));
  }
  return node;
}

/** An HTML element: `h('button', { class: 'x', on: { click } }, 'Label')`. */
export function h(tag, props, ...children) {
  const node = apply(document.createElement(tag), props);
  append(node, children);
  return node;
}

/** An SVG element. */
export function s(tag, props, ...children) {
  const node = apply(document.createElementNS(SVG_NS, tag), props);
  append(node, children);
  return node;
}

/** Replaces the children of `node`. */
export function replace(node, ...children) {
  while (node.firstChild) node.removeChild(node.firstChild);
  append(node, children);
  return node;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dateTimeFormat = new Intl.DateTimeFormat(undefined, {
  year: 'numeric',
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});

/** A short time: `14:05` today, the date otherwise. */
export function shortTime(ms) {
  if (!ms) return '';
  const date = new Date(ms);
  const today = new Date();
  if (date.toDateString() === today.toDateString()) return timeFormat.format(date);
  return date.toLocaleDateString();
}

export function fullTime(ms) {
  return ms ? dateTimeFormat.format(new Date(ms)) : '—';
}

/** A transient notice at the bottom of the screen. */
export function toast(message, kind = 'info') {
  let area = document.getElementById('toasts');
  if (!area) {
    area = h('div', { id: 'toasts', role: 'status', 'aria-live': 'polite' });
    document.body.appendChild(area);
  }
  const item = h('div', { class: ['toast', kind] }, message);
  area.appendChild(item);
  setTimeout(() => item.remove(), kind === 'error' ? 8000 : 4000);
}

/** A labelled form field. */
export function field(label, input, hint) {
  return h('label', { class: 'field' }, h('span', { class: 'label' }, label), input, hint ? h('small', {}, hint) : null);
}

/** A `<select>` from `[value, label]` pairs. */
export function select(name, options, value) {
  return h(
    'select',
    { name },
    options.map(([optionValue, label]) => h('option', { value: optionValue, selected: optionValue === value }, label)),
  );
}

/** Runs `fn` at most once per `ms`, trailing. */
export function debounce(fn, ms) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

// Small pieces every screen uses: the html template tag, messages, covers, icons, times, stars
// and ratings, and the hash routes (`#/album/al-4`), so the browser's back button and links work.

import { h } from 'preact';
import { useState, useEffect } from 'preact/hooks';
import htm from 'htm';
import { coverUrl } from './api.js';

export const html = htm.bind(h);

export function Message({ error }) {
  return error ? html`<p class="error" role="alert">${error}</p>` : null;
}

/**
 * A cover, or a plain square where there is none. A missing picture is hidden straight in the
 * page, not through a render: in a grid scrolled fast, many answer at once.
 */
export function Cover({ id, size }) {
  return html`
    <div class="cover">
      ${id && html`<img key=${id} src=${coverUrl(id, size)} alt="" decoding="async" onError=${hide} />`}
    </div>`;
}

function hide(event) {
  event.target.style.visibility = 'hidden';
}

/** Icons drawn here, not taken from fonts (a device may lack the symbol). */
const PATHS = {
  previous: 'M6 5h2v14H6zM20 5v14L9 12z',
  next: 'M16 5h2v14h-2zM4 5l11 7-11 7z',
  play: 'M7 4l13 8-13 8z',
  pause: 'M6 4h4v16H6zM14 4h4v16h-4z',
  star: 'M12 2l3 7h7l-5.5 4.5 2 7.5-6.5-4.5-6.5 4.5 2-7.5L2 9h7z',
  more: 'M5 10a2 2 0 110 4 2 2 0 010-4zm7 0a2 2 0 110 4 2 2 0 010-4zm7 0a2 2 0 110 4 2 2 0 010-4z',
  grip: 'M8 5h2v2H8zm6 0h2v2h-2zM8 11h2v2H8zm6 0h2v2h-2zM8 17h2v2H8zm6 0h2v2h-2z',
};

export function Icon({ name, size = 18 }) {
  return html`<svg viewBox="0 0 24 24" width=${size} height=${size} aria-hidden="true" focusable="false"><path d=${PATHS[name]} fill="currentColor" /></svg>`;
}

export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds || 0));
  const m = Math.floor(s / 60);
  return m >= 60
    ? `${Math.floor(m / 60)}:${String(m % 60).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`
    : `${m}:${String(s % 60).padStart(2, '0')}`;
}

/** The route: the part of the address after `#/`, split at slashes (each part decoded). */
function currentRoute() {
  const path = location.hash.replace(/^#\/?/, '');
  return path === '' ? [] : path.split('/').map((p) => decodeURIComponent(p));
}

export function useRoute() {
  const [route, setRoute] = useState(currentRoute);
  useEffect(() => {
    const changed = () => {
      setRoute(currentRoute());
      // A new screen starts at its top (the page itself scrolls).
      window.scrollTo(0, 0);
    };
    window.addEventListener('hashchange', changed);
    return () => window.removeEventListener('hashchange', changed);
  }, []);
  return route;
}

/** The address of a route, each part encoded: `href('album', 'al-4')` is `#/album/al-4`. */
export function href(...parts) {
  return `#/${parts.map((p) => encodeURIComponent(p)).join('/')}`;
}

export function go(...parts) {
  location.hash = href(...parts);
}

/**
 * Drag-and-drop handlers for a list whose items move: `dragged` is what is being dragged (null
 * when nothing is), and `drop(to)` gets the index of the item it was dropped on.
 */
export function dropTarget(list, dragged, drop) {
  return {
    onDragOver: (e) => dragged !== null && e.preventDefault(),
    onDrop: (e) => {
      const row = e.target.closest && e.target.closest(`${list} > li`);
      if (dragged === null || !row) return;
      e.preventDefault();
      drop(Array.prototype.indexOf.call(row.parentNode.children, row));
    },
  };
}

/** A ref that moves the keyboard focus to the element when it first appears (a confirm button). */
export function focusOnce(element) {
  if (element && !element.dataset.focused) {
    element.dataset.focused = 'yes';
    element.focus();
  }
}

/** A grid of thumbnails: each opens the viewer; arrow keys move between them. */
import type { GallerySample } from "./api.js";
import { el } from "./dom.js";
import { openViewer } from "./viewer.js";

function thumbButton(
  jobId: string,
  sample: GallerySample,
  list: GallerySample[],
  index: number,
): HTMLElement {
  const m = sample.metadata;
  return el(
    "button",
    {
      type: "button",
      class: "thumb",
      "data-key": sample.key,
      "aria-label": `${m.prompt} (seed ${m.seed})`,
      onclick: () => openViewer(jobId, list, index),
      onkeydown: (e) => moveInGrid(e),
    },
    el("img", {
      src: `/api/jobs/${encodeURIComponent(jobId)}/shards/${sample.shard}/samples/${encodeURIComponent(sample.key)}/thumb.png`,
      alt: m.prompt,
      loading: "lazy",
      width: 150,
      height: 150,
    }),
    el("span", { class: "caption" }, m.prompt),
    el(
      "span",
      { class: "seed" },
      `seed ${m.seed} · ${m.steps} steps · cfg ${m.guidance_scale} · ${m.scheduler}`,
    ),
  );
}

/** Arrow keys move between the thumbnails of a grid: left and right by one, up and down by a row. */
function moveInGrid(e: KeyboardEvent): void {
  const current = e.currentTarget;
  if (!(current instanceof HTMLElement) || !current.parentElement) return;
  const items = [...current.parentElement.children].filter((t) => t instanceof HTMLElement);
  const at = items.indexOf(current);
  // The grid wraps to the width of the window: a row is the thumbnails level with the first.
  const columns = Math.max(1, items.filter((t) => t.offsetTop === items[0].offsetTop).length);
  const moves: Record<string, number> = {
    ArrowRight: 1,
    ArrowLeft: -1,
    ArrowDown: columns,
    ArrowUp: -columns,
  };
  if (!(e.key in moves)) return;
  const target = items[at + moves[e.key]];
  if (target) {
    e.preventDefault();
    target.focus();
  }
}

export function renderGrid(container: HTMLElement, jobId: string, samples: GallerySample[]): void {
  const active = document.activeElement;
  const focused = active instanceof HTMLElement && container.contains(active) ? active.dataset.key : null;
  container.replaceChildren(...samples.map((s, i) => thumbButton(jobId, s, samples, i)));
  if (samples.length === 0) container.append(el("p", { class: "muted" }, "No images yet."));
  if (focused) container.querySelector<HTMLElement>(`[data-key="${CSS.escape(focused)}"]`)?.focus();
}

/** The full-size viewer: one image and its metadata row; arrow keys step through the grid it came from. */
import type { GallerySample, SampleMetadata } from "./api.js";
import { byId, el } from "./dom.js";

const viewer = byId("viewer", HTMLDialogElement);
const viewerTitle = byId("viewer-title", HTMLElement);
const viewerImage = byId("viewer-image", HTMLImageElement);
const viewerClose = byId("viewer-close", HTMLButtonElement);
const viewerState: { jobId: string; list: GallerySample[]; index: number } = {
  jobId: "",
  list: [],
  index: 0,
};

function showInViewer(): void {
  const s = viewerState.list[viewerState.index];
  if (!s) return;
  const m = s.metadata;
  viewerTitle.textContent = `${s.key} (shard ${s.shard})`;
  viewerImage.src = `/api/jobs/${encodeURIComponent(viewerState.jobId)}/shards/${s.shard}/samples/${encodeURIComponent(s.key)}/image.png`;
  viewerImage.alt = m.prompt;
  const fields: (keyof SampleMetadata)[] = [
    "id",
    "prompt",
    "negative_prompt",
    "seed",
    "steps",
    "guidance_scale",
    "scheduler",
    "width",
    "height",
    "model",
  ];
  viewer
    .querySelector("tbody")
    ?.replaceChildren(
      el("tr", {}, el("th", { scope: "row" }, "key"), el("td", { "data-field": "key" }, s.key)),
      ...fields.map((f) =>
        el("tr", {}, el("th", { scope: "row" }, f), el("td", { "data-field": f }, String(m[f] ?? ""))),
      ),
    );
  viewer.dataset.key = s.key;
}

export function openViewer(jobId: string, list: GallerySample[], index: number): void {
  viewerState.jobId = jobId;
  viewerState.list = list;
  viewerState.index = index;
  showInViewer();
  if (!viewer.open) viewer.showModal();
  viewerClose.focus();
}

function stepViewer(d: number): void {
  const n = viewerState.index + d;
  if (n < 0 || n >= viewerState.list.length) return;
  viewerState.index = n;
  showInViewer();
}

byId("viewer-prev", HTMLButtonElement).addEventListener("click", () => stepViewer(-1));
byId("viewer-next", HTMLButtonElement).addEventListener("click", () => stepViewer(1));
viewerClose.addEventListener("click", () => viewer.close());
viewer.addEventListener("keydown", (e) => {
  if (e.key === "ArrowRight") stepViewer(1);
  else if (e.key === "ArrowLeft") stepViewer(-1);
});

export function closeViewer(): void {
  if (viewer.open) viewer.close();
}

"""Screenshots of a flow run's artifacts in the Prefect UI, to check by eye that figures show.

    .venv/bin/python scripts/screenshot_artifacts.py --api-url http://127.0.0.1:4200/api --flow-run <id> --out shots/
    .venv/bin/python scripts/screenshot_artifacts.py --api-url http://127.0.0.1:4200/api --flow hotspot-pipeline --out shots/

For each UI the server offers (V1 at ``/``, V2 at ``/v2``; ``--ui`` picks one) it writes

* ``<ui>-run-artifacts.png``: the flow run page with its Artifacts tab open
  (V2: ``/v2/runs/flow-run/<id>?tab=Artifacts``; V1 ignores ``?tab=`` on a fresh load, so the
  tab is clicked);
* ``<ui>-artifact-<key>.png``: each figure artifact's page (``/artifacts/artifact/<id>``); a
  figure artifact is one whose data or description holds a ``data:image/`` URI, or of type
  image (``--all`` takes every artifact of the run);

and ``report.json`` / ``report.md``: per page, how many images are on it, how many loaded
(naturalWidth > 0), and every request to a non-local host that the page attempted.
Chromium resolves only loopback names, so no request leaves the machine, and the API URL
must be a loopback address. Needs the Debian ``chromium`` package; Python: the project venv.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cdp import LOCAL_HOSTS, Browser, is_local

IMAGES = """JSON.stringify(Array.from(document.images).filter(i => i.getBoundingClientRect().width > 0)
  .map(i => ({data: i.src.startsWith('data:'), loaded: i.complete && i.naturalWidth > 0,
              w: i.naturalWidth, h: i.naturalHeight})))"""
ALL_LOADED = "Array.from(document.images).every(i => i.complete)"
CLICK_TAB = """(() => { const el = Array.from(document.querySelectorAll('[role=tab], button, a, li'))
  .find(e => e.textContent.trim() === 'Artifacts'); if (el) { el.click(); return true } return false })()"""


def _api(client: httpx.Client, path: str, body: dict[str, Any]) -> Any:
    response = client.post(path, json=body)
    response.raise_for_status()
    return response.json()


def find_flow_run(client: httpx.Client, flow_run: str | None, flow: str | None) -> dict[str, Any]:
    if flow_run:
        response = client.get(f"/flow_runs/{flow_run}")
        response.raise_for_status()
        return response.json()
    runs = _api(client, "/flow_runs/filter", {
        "flows": {"name": {"any_": [flow]}}, "flow_runs": {"start_time": {"is_null_": False}},
        "sort": "START_TIME_DESC", "limit": 1,
    })  # fmt: skip
    if not runs:
        raise SystemExit(f"no started flow run of flow {flow!r}")
    return runs[0]


def is_figure(artifact: dict[str, Any]) -> bool:
    return artifact.get("type") == "image" or "data:image/" in (
        json.dumps(artifact.get("data")) + (artifact.get("description") or "")
    )


def _page(b: Browser, url: str, path: Path, key_text: str | None, click: bool, timeout: float) -> dict[str, Any]:
    before = len(b.requests)
    started = time.monotonic()
    b.open(url, quiet=1.0, limit=4)  # the UIs poll the API: wait for content below, not for a quiet network
    if click:
        b.wait_for("document.body.innerText.includes('Artifacts')", timeout)
        # The Artifacts tab appears only once the run is loaded; click it when it is there.
        clicked = b.wait_for(CLICK_TAB, timeout)
        b.pause(1.0)
    else:
        clicked = None
    if key_text:
        b.wait_for(f"document.body.innerText.includes({json.dumps(key_text)})", timeout)
    b.wait_for(ALL_LOADED, timeout)
    b.pause(0.5)
    images = json.loads(b.js(IMAGES))
    size = b.screenshot(path)
    external = sorted({r["url"] for r in b.requests[before:] if not is_local(r["url"])})
    return {
        "url": url, "file": path.name, "size": list(size), "seconds": round(time.monotonic() - started, 1),
        "images": len(images), "images_loaded": sum(i["loaded"] for i in images),
        "data_images": sum(i["data"] for i in images),
        "data_images_loaded": sum(i["data"] and i["loaded"] for i in images),
        "tab_clicked": clicked, "blocked_external_requests": external,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--api-url", required=True, help="e.g. http://127.0.0.1:4200/api")
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--flow-run", help="flow run id")
    who.add_argument("--flow", help="flow name: its latest started run is taken")
    parser.add_argument("--out", type=Path, required=True, help="folder for the PNGs and report")
    parser.add_argument("--ui", choices=["v1", "v2", "both"], default="both")
    parser.add_argument("--all", action="store_true", help="every artifact page, not only figures")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=30, help="seconds to wait for a page's content")
    args = parser.parse_args(argv)

    api = args.api_url.rstrip("/")
    if (urlsplit(api).hostname or "") not in LOCAL_HOSTS:
        parser.error("--api-url must be a loopback address (127.0.0.1 / localhost)")
    origin = api.removesuffix("/api")
    args.out.mkdir(parents=True, exist_ok=True)

    with httpx.Client(base_url=api, timeout=60) as client:
        run = find_flow_run(client, args.flow_run, args.flow)
        artifacts = _api(client, "/artifacts/filter", {
            "artifacts": {"flow_run_id": {"any_": [run["id"]]}, "type": {"not_any_": ["result"]}},
            "sort": "ID_DESC",
        })  # fmt: skip
        settings = httpx.get(f"{origin}/ui-settings", timeout=30).json()
    bases = {"v1": settings.get("v1_base_url"), "v2": settings.get("v2_base_url")}
    uis = [u for u in (["v1", "v2"] if args.ui == "both" else [args.ui]) if bases.get(u)]
    chosen = [a for a in artifacts if args.all or is_figure(a)]
    first_key = artifacts[-1]["key"] if artifacts else None  # any key: the page has loaded its artifacts

    pages = []
    with Browser(args.width, args.height) as b:
        for ui in uis:
            base = origin + bases[ui].rstrip("/")
            url = f"{base}/runs/flow-run/{run['id']}" + ("?tab=Artifacts" if ui == "v2" else "")
            pages.append({"ui": ui, "page": "run-artifacts", **_page(
                b, url, args.out / f"{ui}-run-artifacts.png", first_key, ui == "v1", args.timeout)})  # fmt: skip
            for a in chosen:
                name = a["key"] or a["id"]
                pages.append({"ui": ui, "page": f"artifact {name}", "artifact_id": a["id"], **_page(
                    b, f"{base}/artifacts/artifact/{a['id']}", args.out / f"{ui}-artifact-{name}.png",
                    None, False, args.timeout)})  # fmt: skip
            print(f"{ui}: {1 + len(chosen)} page(s)", file=sys.stderr)

    report = {"flow_run": {"id": run["id"], "name": run["name"]}, "ui_settings": settings, "pages": pages,
              "artifacts": [{"id": a["id"], "key": a["key"], "type": a["type"], "figure": is_figure(a)}
                            for a in artifacts]}  # fmt: skip
    (args.out / "report.json").write_text(json.dumps(report, indent=2))
    lines = [f"# Artifacts of flow run {run['name']} ({run['id']})", "",
             "| ui | page | file | images loaded / shown | data-URI images loaded / shown | blocked external |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for p in pages:
        lines.append(f"| {p['ui']} | {p['page']} | {p['file']} | {p['images_loaded']}/{p['images']} | "
                     f"{p['data_images_loaded']}/{p['data_images']} | {len(p['blocked_external_requests'])} |")  # fmt: skip
    (args.out / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Open every page of a Data Docs site in headless Chromium with the network off and check it.

    .venv/bin/python scripts/verify_offline_docs.py SITE_DIR --out shots/ [--prefix after] [--http]

Per page: every request Chromium attempted (DevTools Network events, and Chromium's own
net log written to ``<out>/<prefix>-netlog.json``), how many table rows are drawn, and how
many status icons show a visible symbol. Names other than loopback do not resolve
(``--host-resolver-rules``), so nothing can leave the machine either way. ``--http`` serves
the site from ``python -m http.server`` on 127.0.0.1 instead of opening file:// URLs.
Exit code 1 if a page requested a non-local URL, drew no table row, or shows a blank icon.
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cdp import Browser, is_local

CHECK = """JSON.stringify({
  rows: document.querySelectorAll('table tbody tr').length,
  index_rows: document.querySelectorAll('table.offline-table tbody tr[data-href]').length,
  icons: Array.from(document.querySelectorAll('i.fas, i.fa, i.far')).map(i => {
    const before = getComputedStyle(i, '::before').content;
    const box = i.getBoundingClientRect();
    return {cls: i.className, symbol: before, width: box.width, visible: box.width > 0 && before !== 'none' && before !== '""'};
  }).filter(i => /fa-(check-circle|times|exclamation-triangle)/.test(i.cls)),
})"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Traffic annotations (hash codes in the net log) of the requests a page makes: sub-resources
# (scripts, styles, images), navigations, the favicon. Every other annotation seen here was
# Chromium's own background traffic (update checks, network time, sign-in, autofill and
# optimisation-model queries), listed separately; with the resolver rule all of it fails too.
PAGE_ANNOTATIONS = {101845102: "sub-resource", 63171670: "navigation", 112189210: "favicon"}


def netlog_requests(path: Path) -> dict[str, list[dict]]:
    """Remote URL requests in a Chromium net log: {"page": [...], "browser": [...]}.

    Each entry: url, traffic annotation, and the net error Chromium ended the request with
    (-105 = ERR_NAME_NOT_RESOLVED, i.e. blocked by the resolver rule). The log of a killed
    browser lacks its closing brackets; they are added before parsing.
    """
    import json as _json

    if not path.is_file():
        return {"page": [], "browser": []}
    text = path.read_text(errors="replace").rstrip().rstrip(",")
    try:
        log = _json.loads(text)  # a log closed by the browser
    except ValueError:
        log = _json.loads(text + "]}")  # cut off after the last event
    names = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    by_source: dict[int, dict] = {}
    for event in log["events"]:
        params, source = event.get("params", {}), event["source"]["id"]
        if names.get(event["type"]) == "REQUEST_ALIVE" and "url" in params:
            by_source[source] = {"url": params["url"], "annotation": params.get("traffic_annotation")}
        elif source in by_source and "net_error" in params:
            by_source[source]["net_error"] = params["net_error"]
    out: dict[str, list[dict]] = {"page": [], "browser": []}
    for request in by_source.values():
        if is_local(request["url"]):
            continue
        out["page" if request["annotation"] in PAGE_ANNOTATIONS else "browser"].append(request)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("site", type=Path)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--prefix", default="page")
    ap.add_argument("--http", action="store_true", help="serve over http://127.0.0.1 instead of file://")
    ap.add_argument("--no-fail", action="store_true", help="report only (for the 'before' run)")
    args = ap.parse_args(argv)
    site = args.site.resolve()
    args.out.mkdir(parents=True, exist_ok=True)
    pages = sorted(p for p in site.rglob("*.html") if "static" not in p.relative_to(site).parts)
    server = None
    if args.http:
        port = _free_port()
        server = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                                   "--directory", str(site)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        time.sleep(1.0)
    netlog = (args.out / f"{args.prefix}{'-http' if args.http else ''}-netlog.json").resolve()
    results, failed = [], False
    try:
        with Browser(1400, 1000, extra_args=(f"--log-net-log={netlog}",)) as b:
            for page in pages:
                rel = page.relative_to(site).as_posix()
                url = f"http://127.0.0.1:{port}/{rel}" if server else page.as_uri()
                before = len(b.requests)
                b.open(url, quiet=1.0, limit=15)
                b.pause(0.5)
                state = json.loads(b.js(CHECK))
                parts = (
                    Path(rel).with_suffix("").parts
                )  # index | expectations/<suite> | validations/<suite>/.../<asset>
                name = (
                    "index"
                    if rel == "index.html"
                    else (f"suite-{parts[-1]}" if parts[0] == "expectations" else f"validation-{parts[1]}")
                )
                shot = args.out / f"{args.prefix}-{name}{'-http' if server else ''}.png"
                b.screenshot(shot)
                external = sorted({r["url"] for r in b.requests[before:] if not is_local(r["url"])})
                blank = [i for i in state["icons"] if not i["visible"]]
                ok = not external and state["rows"] > 0 and not blank
                failed |= not ok
                results.append({"page": rel, "url": url, "screenshot": shot.name, "external_requests": external,
                                "table_rows": state["rows"], "index_rows": state["index_rows"],
                                "status_icons": len(state["icons"]), "blank_icons": len(blank),
                                "icon_symbols": sorted({i["symbol"] for i in state["icons"]}), "ok": ok})  # fmt: skip
                print(json.dumps(results[-1]))
            b.call("Page.navigate", {"url": "about:blank"})
    finally:
        if server:
            server.terminate()
            server.wait(10)
    remote = netlog_requests(netlog)
    summary = {"netlog": str(netlog), "page_remote_requests": sorted({r["url"] for r in remote["page"]}),
               "page_remote_net_errors": sorted({r.get("net_error") for r in remote["page"]}, key=str),
               "browser_internal_remote": sorted({f"{r['url'].split('?')[0]} (annotation {r['annotation']}, "
                                                  f"net_error {r.get('net_error')})" for r in remote["browser"]}),
               # -105 = ERR_NAME_NOT_RESOLVED: refused by the resolver rule before any packet left
               "remote_requests_not_refused": sorted({r["url"].split("?")[0] for r in remote["page"] + remote["browser"]
                                                      if r.get("net_error", -105) != -105}),
               "remote_requests_unfinished": sorted({r["url"].split("?")[0] for r in remote["page"] + remote["browser"]
                                                     if "net_error" not in r})}  # fmt: skip
    print(json.dumps(summary, indent=1))
    (args.out / f"{args.prefix}{'-http' if args.http else ''}-report.json").write_text(
        json.dumps({"pages": results, "netlog": summary}, indent=2)
    )
    leaked = summary["remote_requests_not_refused"]
    return 0 if args.no_fail or (not failed and not remote["page"] and not leaked) else 1


if __name__ == "__main__":
    raise SystemExit(main())

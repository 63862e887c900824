"""The web page at ``/``, in a real headless Chromium against a real ``forebear serve``.

The store holds a small real lineage written through the SDK: data -> train -> model ->
fine-tune -> model2 (aliased, and named like an HTML injection), a failed run that used
the same data, and a flag on the data. Chromium is Debian's (``make test`` installs it);
nothing is downloaded. Without it these tests fail with the fix, never skip.
"""

from __future__ import annotations

import http.client
import itertools
import json
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, APIRouter

from forebear.server.app import _check_guards, close_app, create_app
from forebear.server.auth import PUBLIC_PATHS
from forebear.server.resources.ui import ASSETS
from forebear.store.registry import init_store, open_store
from tests.serverkit import Api, ServerProcess, clean_env, cli

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
UI = Path(__file__).resolve().parents[2] / "src" / "forebear" / "server" / "ui"
ALIAS = "fraud-model@staging"
XSS_NAME = "<img src=x onerror=__pwned=1>"  # short enough to be drawn whole

LINEAGE = textwrap.dedent(f"""
    import forebear
    from pathlib import Path

    Path("data").mkdir()
    Path("data/train.csv").write_text("x,y\\n1,2\\n")
    with forebear.run("train", kind="train", params={{"lr": 0.1, "epochs": 3}},
                      tags={{"team": "risk"}}) as run:
        run.use("data/train.csv", role="training_data")
        run.log_metrics({{"accuracy": 0.93}})
        Path("model.pkl").write_text("model one")
        run.produce("model.pkl", kind="model")
    try:
        with forebear.run("train-diverged", kind="train", params={{"lr": 9.0}}) as run:
            run.use("data/train.csv", role="training_data")
            raise RuntimeError("loss is NaN")
    except RuntimeError:
        pass
    with forebear.run("fine-tune", kind="fine_tune", params={{"epochs": 1}}) as run:
        run.use("model.pkl", role="base_model")
        Path("model2.pkl").write_text("model two")
        run.produce("model2.pkl", kind="model", name={XSS_NAME!r})
    forebear.set_alias({ALIAS!r}, "model2.pkl")
""")

# Collects CSP violations from the first moment of every document (an init script is
# injected by the browser's debugging protocol, which the page's CSP does not govern).
WATCH_CSP = """
window.__violations = [];
document.addEventListener("securitypolicyviolation",
  (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
"""


# -- the world: a store, a server, a browser ---------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    project = tmp_path_factory.mktemp("web")
    env = clean_env()
    cli("init", str(project), env=env)
    subprocess.run([sys.executable, "-c", LINEAGE], cwd=project, env=env, check=True,
                   capture_output=True, timeout=120)
    store = str(project / ".forebear")
    cli("flag", "data/train.csv", "--reason", "mislabeled rows", "--store", store,
        env=env, cwd=project)
    found = ServerProcess(store=project / ".forebear")
    found.create_tokens()
    found.start()
    try:
        yield found
    finally:
        found.stop()


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs it (apt-get install chromium)",
                    pytrace=False)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM,
            args=CHROMIUM_ARGS, headless=True, viewport={"width": 1400, "height": 900},
        )
        context.add_init_script(WATCH_CSP)
        context.set_default_timeout(15_000)
        try:
            yield context
        finally:
            context.close()


class Tab:
    """One browser tab (its own sessionStorage) that records what went wrong in it."""

    def __init__(self, context: Any, server: ServerProcess) -> None:
        self.page = context.new_page()
        self.server = server
        self.problems: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"pageerror: {error}"))
        self.page.on("request", lambda request: self.requests.append(request.url))

    def _console(self, message: Any) -> None:
        if message.type in ("error", "warning"):
            self.problems.append(f"{message.type}: {message.text}")

    def open(self, fragment: str = "") -> None:
        self.page.goto(f"{self.server.url}/{fragment}")
        self.page.wait_for_selector("#message:not([hidden]), #graph svg")

    def use_token(self, token: str) -> None:
        self.page.fill("#token", token)
        self.page.click("#token-form button[type=submit]")

    def graph(self) -> dict[str, Any]:
        """What the SVG shows: nodes by id (name, classes, x) and edges."""
        self.page.wait_for_selector("#graph svg g.node, #message.error")
        if self.page.locator("#graph svg").count() == 0:
            raise AssertionError(f"no graph: {self.page.text_content('#message')!r}, "
                                 f"{self.problems}")
        return self.page.evaluate("""() => {
            const nodes = {};
            for (const g of document.querySelectorAll("#graph svg g.node")) {
              const at = /translate\\(([-\\d.]+) ([-\\d.]+)\\)/.exec(g.getAttribute("transform"));
              nodes[g.dataset.id] = {
                name: g.querySelector("text.name").textContent,
                kind: g.querySelector("text.kind").textContent,
                short: g.querySelector("text.id").textContent,
                classes: [...g.classList], x: Number(at[1]), y: Number(at[2]),
              };
            }
            const edges = [...document.querySelectorAll("#graph svg g.edge")].map((g) =>
              [g.dataset.source, g.dataset.target, g.dataset.role]);
            return {nodes, edges};
        }""")

    def clean(self, *allowed: str) -> None:
        """No console errors or warnings (but ``allowed`` patterns), no CSP violations."""
        violations = self.page.evaluate("window.__violations")
        problems = [p for p in self.problems if not any(re.search(a, p) for a in allowed)]
        assert problems == [] and violations == [], (problems, violations)


@pytest.fixture
def tab(browser: Any, server: ServerProcess) -> Iterator[Tab]:
    found = Tab(browser, server)
    try:
        yield found
    finally:
        found.page.close()


def _api(server: ServerProcess, path: str) -> Any:
    return server.json("GET", path, token="read")


def _get(server: ServerProcess, path: str) -> tuple[int, http.client.HTTPResponse, bytes]:
    """GET ``path`` with no Authorization header: (status, response, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    try:
        conn.request("GET", path)
        answer = conn.getresponse()
        return answer.status, answer, answer.read()
    finally:
        conn.close()


def _fragment(ref: str, direction: str = "upstream", depth: str = "all") -> str:
    return f"#ref={quote(ref, safe='')}&dir={direction}&depth={depth}"


def _edges(answer: dict[str, Any]) -> list[list[str]]:
    return sorted([e["source"], e["target"], e["role"]] for e in answer["edges"])


# -- the shell: public, static, no data; everything else still guarded -------------------


def test_the_page_and_its_files_need_no_token_and_carry_a_strict_policy(
        server: ServerProcess) -> None:
    data = _api(server, f"/api/v1/show?ref={quote(ALIAS)}")["id"]
    for path, (_, media_type) in ASSETS.items():
        status, answer, body = _get(server, path)
        assert status == 200, path
        assert data.encode() not in body and ALIAS.encode() not in body  # no data in it
        assert answer.getheader("content-type") == media_type
        policy = answer.getheader("content-security-policy") or ""
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert "unsafe" not in policy and "http" not in policy
        assert answer.getheader("x-content-type-options") == "nosniff"
    assert _get(server, f"/api/v1/upstream?ref={quote(ALIAS)}")[0] == 401
    assert _get(server, "/ui/nothing.js")[0] == 404


def test_only_the_page_and_health_are_public_and_every_api_route_needs_a_token(
        tmp_path: Path) -> None:
    assert frozenset({"/health", *ASSETS}) == PUBLIC_PATHS
    store = open_store(str(init_store(tmp_path)))
    app = create_app(store, worker=False)
    try:
        api_routes = [r for r in app.routes if isinstance(r, APIRoute)
                      and r.path.startswith("/api/v1/")]
        assert len(api_routes) >= 20
        for route in api_routes:
            for method in route.methods or ():
                url = re.sub(r"\{\w+\}", "x", route.path)
                answer = Api(app).request(method, url)
                assert answer.status_code == 401, (method, route.path)
        for path in ASSETS:
            answer = Api(app).get(path)
            assert answer.status_code == 200, path
            assert "content-security-policy" in answer.headers
    finally:
        close_app(app)
        store.close()


def test_a_public_route_that_writes_is_refused_at_build_time() -> None:
    router = APIRouter()

    async def upload() -> None:
        """A route that would take data without a token."""

    router.add_api_route("/", upload, methods=["POST"])
    with pytest.raises(RuntimeError, match="takes no token, so it may only be read"):
        _check_guards(FastAPI(routes=router.routes))
    router = APIRouter()
    router.add_api_route("/ui/extra.js", upload, methods=["GET"])
    with pytest.raises(RuntimeError, match="has no token rule"):
        _check_guards(FastAPI(routes=router.routes))


def test_the_page_is_hand_written_and_self_contained() -> None:
    files = {path.name: path.read_text() for path in UI.iterdir()}
    assert set(files) == {name for name, _ in ASSETS.values()}
    for name, text in files.items():
        # No URL of another origin (the SVG namespace is a name, never fetched).
        urls = set(re.findall(r"https?://[^\s\"'`)]+", text)) - {"http://www.w3.org/2000/svg"}
        assert urls == set(), name
        if name.endswith(".js"):
            for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write",
                         "eval(", "new Function", "localStorage", "document.cookie"):
                assert sink not in text, (name, sink)
    assert "<script>" not in files["index.html"] and " style=" not in files["index.html"]


def test_the_wheel_ships_the_page(tmp_path: Path) -> None:
    root = UI.parents[3]
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-build-isolation", "--no-deps",
                    "--no-index", "-q", "-w", str(tmp_path), str(root)],
                   check=True, capture_output=True, timeout=300)
    (wheel,) = tmp_path.glob("forebear-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = {name for name in archive.namelist() if name.startswith("forebear/server/ui/")}
    assert shipped == {f"forebear/server/ui/{name}" for name, _ in ASSETS.values()}


# -- the page, in Chromium ---------------------------------------------------------------


def test_without_a_token_the_page_says_so(tab: Tab) -> None:
    tab.open()
    assert "Type a REF" in tab.page.text_content("#message")
    tab.open(_fragment(ALIAS))
    message = tab.page.text_content("#message")
    assert "No token" in message and "forebear token create --scope read" in message
    assert tab.page.locator("#graph svg").count() == 0
    assert not any("/api/" in url for url in tab.requests)  # nothing asked without a token
    tab.clean()


def test_a_wrong_token_shows_the_apis_message(tab: Tab) -> None:
    tab.open()
    tab.use_token("fbt_000000000000_not-a-token")
    tab.page.fill("#ref", ALIAS)
    tab.page.click("#query button[type=submit]")
    tab.page.wait_for_selector("#message.error")
    assert "the token is unknown, revoked or expired" in tab.page.text_content("#message")
    tab.clean(r"status of 401")


def test_the_upstream_of_the_models_alias(tab: Tab, server: ServerProcess) -> None:
    token = server.tokens["read"]
    tab.open()
    tab.use_token(token)
    tab.page.fill("#ref", ALIAS)
    tab.page.select_option("#dir", "upstream")
    tab.page.select_option("#depth", "all")
    tab.page.click("#query button[type=submit]")
    shown = tab.graph()
    expected = _api(server, f"/api/v1/upstream?ref={quote(ALIAS)}")
    assert set(shown["nodes"]) == {n["id"] for n in expected["nodes"]}
    assert sorted(shown["edges"]) == _edges(expected)
    by_name = {n["name"]: n for n in shown["nodes"].values()}
    assert {"data/train.csv", "train", "model.pkl", "fine-tune", XSS_NAME} <= set(by_name)
    assert "train-diverged" not in by_name  # downstream of the data, not upstream of model2
    root = shown["nodes"][expected["root"]]
    assert "root" in root["classes"] and root["kind"] == "model"
    assert root["short"] == expected["root"].removeprefix("sha256:")[:12]
    train = by_name["train"]
    assert train["kind"] == "train \u00b7 succeeded" and "status-succeeded" in train["classes"]
    assert "flagged" in by_name["data/train.csv"]["classes"]
    assert "flagged" not in by_name["model.pkl"]["classes"]
    # Left to right: every edge points right.
    for source, target, _ in shown["edges"]:
        assert shown["nodes"][source]["x"] < shown["nodes"][target]["x"]
    summary = tab.page.text_content("#summary")
    count = len(expected["nodes"])
    assert f"showing {count} of {count} nodes, {len(expected['edges'])} edges" in summary
    # The view is in the fragment; the token is not, nor in a cookie or localStorage.
    assert tab.page.url.endswith(_fragment(ALIAS))
    assert token not in tab.page.url
    assert tab.page.context.cookies() == []
    assert tab.page.evaluate("localStorage.length") == 0
    assert tab.page.evaluate("sessionStorage.getItem('forebear.token')") == token
    walks = [u for u in tab.requests if "/api/v1/upstream" in u]
    assert walks and all("limit=" in u for u in walks)  # never an unbounded answer
    tab.clean()


def test_clicking_a_node_shows_its_record_and_recentres_on_it(
        tab: Tab, server: ServerProcess) -> None:
    tab.open()
    tab.use_token(server.tokens["read"])
    tab.open(_fragment(ALIAS))
    shown = tab.graph()
    run_id = next(i for i, n in shown["nodes"].items() if n["name"] == "train")
    tab.page.click(f"#graph g.node[data-id='{run_id}']")
    tab.page.wait_for_selector("#details dl[data-section=Parameters]")
    params = tab.page.text_content("#details dl[data-section=Parameters]")
    assert "lr" in params and "0.1" in params and "epochs" in params
    assert "0.93" in tab.page.text_content("#details dl[data-section=Metrics]")
    assert run_id in tab.page.text_content("#details dl[data-section=Record]")
    assert "risk" in tab.page.text_content("#details dl[data-section=Tags]")
    assert "selected" in tab.page.get_attribute(f"#graph g.node[data-id='{run_id}']", "class")

    tab.page.click("#recentre")
    tab.page.wait_for_url(f"**{_fragment(run_id)}")
    tab.page.wait_for_selector(f"#graph g.node.root[data-id='{run_id}']")
    shown = tab.graph()
    expected = _api(server, f"/api/v1/upstream?ref={run_id}")
    assert set(shown["nodes"]) == {n["id"] for n in expected["nodes"]}
    assert sorted(shown["edges"]) == _edges(expected)
    assert tab.page.input_value("#ref") == run_id
    tab.clean()


def test_a_node_exports_as_a_download_through_the_token(
        tab: Tab, server: ServerProcess) -> None:
    tab.open()
    tab.use_token(server.tokens["read"])
    tab.open(_fragment(ALIAS, depth="2"))
    shown = tab.graph()
    root = _api(server, f"/api/v1/show?ref={quote(ALIAS)}")["id"]
    tab.page.click(f"#graph g.node[data-id='{root}']")
    tab.page.wait_for_selector("#details button[data-format=cyclonedx]")
    with tab.page.expect_download() as info:
        tab.page.click("#details button[data-format=cyclonedx]")
    bom = json.loads(Path(info.value.path()).read_text())
    assert info.value.suggested_filename.endswith(".cyclonedx.json")
    assert bom["bomFormat"] == "CycloneDX"
    assert bom["metadata"]["component"]["hashes"][0]["content"] == root.split(":", 1)[1]
    # A run exports as PROV and OpenLineage: a BOM and SLSA describe an artifact.
    run_id = next(i for i, n in shown["nodes"].items() if "execution" in n["classes"])
    tab.page.click(f"#graph g.node[data-id='{run_id}']")
    tab.page.wait_for_selector(f"#details[data-id='{run_id}'] button[data-format=prov]")
    assert tab.page.locator("#details button[data-format]").count() == 2
    with tab.page.expect_download() as info:
        tab.page.click("#details button[data-format=prov]")
    prov = json.loads(Path(info.value.path()).read_text())
    assert any(run_id in key for key in prov["activity"])
    with tab.page.expect_download() as info:
        tab.page.click("#details button[data-format=openlineage]")
    events = json.loads(Path(info.value.path()).read_text())
    assert info.value.suggested_filename.endswith(".openlineage.json")
    assert {e["run"]["runId"] for e in events} >= {run_id}
    assert [e["eventType"] for e in events if e["run"]["runId"] == run_id] == [
        "START", "COMPLETE"]
    tab.clean()


def test_the_fragment_reproduces_the_view_on_reload(tab: Tab, server: ServerProcess) -> None:
    data = _api(server, "/api/v1/show?ref=" + quote(ALIAS))["flags"][0]["target"]
    tab.open()
    tab.use_token(server.tokens["read"])
    tab.open(_fragment(data[7:19], "downstream", "2"))
    before = tab.graph()
    expected = _api(server, f"/api/v1/downstream?ref={data}&depth=2")
    assert set(before["nodes"]) == {n["id"] for n in expected["nodes"]}
    failed = next(n for n in before["nodes"].values() if n["name"] == "train-diverged")
    assert "status-failed" in failed["classes"] and failed["kind"] == "train \u00b7 failed"
    tab.page.reload()
    after = tab.graph()
    assert after == before
    assert tab.page.input_value("#dir") == "downstream"
    assert tab.page.input_value("#depth") == "2"
    tab.clean()


def test_both_directions_merge_at_the_root(tab: Tab, server: ServerProcess) -> None:
    tab.open()
    tab.use_token(server.tokens["read"])
    tab.open(_fragment(_model_one(server), "both", "1"))
    shown = tab.graph()
    up = _api(server, f"/api/v1/upstream?ref={_model_one(server)}&depth=1")
    down = _api(server, f"/api/v1/downstream?ref={_model_one(server)}&depth=1")
    assert set(shown["nodes"]) == {n["id"] for n in up["nodes"] + down["nodes"]}
    assert sorted(shown["edges"]) == sorted(_edges(up) + _edges(down))
    assert {n["name"] for n in shown["nodes"].values()} == {"train", "model.pkl", "fine-tune"}
    tab.clean()


def test_the_paths_from_the_data_to_the_model(tab: Tab, server: ServerProcess) -> None:
    data = _api(server, "/api/v1/show?ref=" + quote(ALIAS))["flags"][0]["target"]
    expected = _api(server, f"/api/v1/path?from={data}&to={quote(ALIAS)}")
    tab.open()
    tab.use_token(server.tokens["read"])
    # From the upstream view: pick the data, ask how it connects to the model.
    tab.open(_fragment(ALIAS))
    assert tab.page.is_hidden("#from-field")
    upstream = tab.graph()
    tab.page.click(f"#graph g.node[data-id='{data}']")
    tab.page.wait_for_selector("#details dl[data-section=Record]")
    tab.page.click("#paths")
    tab.page.wait_for_url(f"**dir=path*from={quote(data, safe='')}*")
    tab.page.wait_for_selector("#summary:has-text('paths from')")
    shown = tab.graph()
    assert set(shown["nodes"]) == {n["id"] for n in expected["nodes"]}
    assert sorted(shown["edges"]) == _edges(expected)
    names = {n["name"] for n in shown["nodes"].values()}
    assert names == {"data/train.csv", "train", "model.pkl", "fine-tune", XSS_NAME}
    assert len(shown["nodes"]) < len(upstream["nodes"])  # the failed run, code, env: not on it
    assert "root" in shown["nodes"][expected["root"]]["classes"]
    assert "5 nodes (2 runs), 4 edges" in tab.page.text_content("#summary")
    assert tab.page.is_visible("#from-field") and tab.page.input_value("#from") == data
    assert tab.page.is_disabled("#depth")
    # The other way round there is none, and the page says why.
    tab.open(f"#ref={data}&dir=path&from={quote(ALIAS, safe='')}&depth=all")
    tab.page.wait_for_selector("#message:has-text('No path')")
    assert "swap the two" in tab.page.text_content("#message")
    assert tab.page.locator("#graph svg").count() == 0
    tab.clean()


def _model_one(server: ServerProcess) -> str:
    parents = _api(server, f"/api/v1/show?ref={quote(ALIAS)}")["parents"]
    found: str = next(p["id"] for p in parents if p["role"] == "base_model")
    return found


def test_a_large_answer_is_paged_and_says_how_much_is_left_out(
        tab: Tab, server: ServerProcess) -> None:
    tab.open()
    tab.use_token(server.tokens["read"])
    tab.open(_fragment(ALIAS) + "&limit=3")
    shown = tab.graph()
    total = len(_api(server, f"/api/v1/upstream?ref={quote(ALIAS)}")["nodes"])
    assert len(shown["nodes"]) == 3
    assert f"showing 3 of {total} nodes" in tab.page.text_content("#summary")
    for source, target, _ in shown["edges"]:  # nothing drawn to a node not on the page
        assert source in shown["nodes"] and target in shown["nodes"]
    tab.page.click("#more")
    tab.page.wait_for_url("**&limit=12")
    # (wait_for_function would eval a string: the page's CSP rightly refuses that)
    tab.page.locator("#graph g.node").nth(total - 1).wait_for()
    assert f"showing {total} of {total} nodes" in tab.page.text_content("#summary")
    tab.clean()


def test_a_name_holding_markup_is_shown_as_text(tab: Tab, server: ServerProcess) -> None:
    tab.open()
    tab.use_token(server.tokens["read"])
    tab.open(_fragment(ALIAS, depth="1"))
    shown = tab.graph()
    root = _api(server, f"/api/v1/show?ref={quote(ALIAS)}")["id"]
    assert shown["nodes"][root]["name"] == XSS_NAME
    tab.page.click(f"#graph g.node[data-id='{root}']")
    tab.page.wait_for_selector("#details dl[data-section=Aliases]")
    assert tab.page.text_content("#details-title") == XSS_NAME
    assert ALIAS in tab.page.text_content("#details dl[data-section=Aliases]")
    assert tab.page.evaluate("document.querySelectorAll('img').length") == 0
    assert tab.page.evaluate("window.__pwned") is None
    tab.clean()


def test_an_unknown_or_ambiguous_ref_shows_the_apis_message(
        tab: Tab, server: ServerProcess) -> None:
    tab.open()
    tab.use_token(server.tokens["read"])
    tab.open(_fragment("no-such-model"))
    tab.page.wait_for_selector("#message.error")
    assert "'no-such-model' matches nothing" in tab.page.text_content("#message")
    assert tab.page.locator("#graph svg").count() == 0

    runs = sorted(r["run_id"] for r in _api(server, "/api/v1/log"))
    prefix = max((_common(a, b) for a, b in itertools.pairwise(runs)), key=len)
    assert len(prefix) >= 8
    tab.open(_fragment(prefix))
    tab.page.wait_for_selector("#message.error li button")
    message = tab.page.text_content("#message")
    assert f"'{prefix}' matches" in message and "give more characters" in message
    candidates = tab.page.locator("#message li button").all_text_contents()
    assert len(candidates) >= 2 and all(c.startswith(prefix) for c in candidates)
    tab.page.locator("#message li button").first.click()
    tab.page.wait_for_selector(f"#graph g.node.root[data-id='{candidates[0]}']")
    tab.clean(r"status of 40[04]")


def _common(a: str, b: str) -> str:
    size = 0
    while size < min(len(a), len(b)) and a[size] == b[size]:
        size += 1
    return a[:size].rstrip("-")


# -- the layout, run in the browser -------------------------------------------------------

LAYOUT_CHECK = """async () => {
  const { layout, crossings, BOX } = await import("/ui/layout.js");
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  const problems = [];
  const bad = (g, what) => problems.push(`graph ${g}: ${what}`);
  let swept = 0;
  let unswept = 0;
  for (let g = 0; g < 60; g += 1) {
    const count = 2 + Math.floor(random() * 30);
    const nodes = Array.from({ length: count }, (_, i) => ({ id: `n${i}` }));
    const edges = [];
    for (let t = 1; t < count; t += 1) {
      for (let s = 0; s < t; s += 1) {
        if (random() < 2.2 / t) edges.push({ source: `n${s}`, target: `n${t}` });
      }
    }
    const placed = layout(nodes, edges);
    const again = layout(nodes, edges);
    const same = JSON.stringify([...placed.positions]) === JSON.stringify([...again.positions]);
    if (!same) bad(g, "not deterministic");
    if (placed.positions.size !== count) bad(g, `${placed.positions.size} of ${count} placed`);
    for (const { source, target } of edges) {
      const a = placed.positions.get(source);
      const b = placed.positions.get(target);
      if (!(a.x < b.x)) bad(g, `${source} -> ${target} points left`);
      const waypoints = (placed.routes.get(JSON.stringify([source, target])) || []).length;
      if (waypoints !== b.layer - a.layer - 1) bad(g, `${source} -> ${target}: ${waypoints}`);
    }
    const columns = new Map();
    for (const [id, p] of placed.positions) {
      if (!columns.has(p.x)) columns.set(p.x, []);
      columns.get(p.x).push([p.y, id]);
    }
    for (const column of columns.values()) {
      column.sort((a, b) => a[0] - b[0]);
      for (let i = 1; i < column.length; i += 1) {
        const gap = column[i][0] - column[i - 1][0];
        if (gap < BOX.height + BOX.gapY) bad(g, `${column[i][1]} overlaps ${column[i - 1][1]}`);
      }
    }
    swept += crossings(placed.rows, placed.segments, placed.layer);
    const raw = layout(nodes, edges, { sweeps: 0 });
    unswept += crossings(raw.rows, raw.segments, raw.layer);
  }
  const twisted = layout([{ id: "a" }, { id: "b" }, { id: "d" }, { id: "c" }],
    [{ source: "a", target: "c" }, { source: "b", target: "d" }]);
  const untwisted = crossings(twisted.rows, twisted.segments, twisted.layer);
  return { problems, swept, unswept, twisted: untwisted };
}"""


def test_the_layout_is_layered_left_to_right_without_overlaps(
        tab: Tab, server: ServerProcess) -> None:
    tab.open()
    result = tab.page.evaluate(LAYOUT_CHECK)
    assert result["problems"] == []
    assert result["twisted"] == 0
    assert result["swept"] < result["unswept"] / 2, result  # the sweeps earn their keep
    tab.clean()


def test_a_cycle_cannot_hang_the_layout(tab: Tab) -> None:
    tab.open()
    placed = tab.page.evaluate("""async () => {
        const { layout } = await import("/ui/layout.js");
        const placed = layout([{ id: "a" }, { id: "b" }, { id: "c" }],
          [{ source: "a", target: "b" }, { source: "b", target: "c" },
           { source: "c", target: "a" }, { source: "x", target: "a" }]);
        return placed.positions.size;
    }""")
    assert placed == 3
    tab.clean()


def test_the_json_shapes_the_page_reads_are_the_documented_ones(server: ServerProcess) -> None:
    walk = _api(server, f"/api/v1/upstream?ref={quote(ALIAS)}&limit=2")
    assert set(walk) == {"root", "nodes", "edges", "page"}
    paths = _api(server, f"/api/v1/path?from={walk['root']}&to={quote(ALIAS)}")
    assert set(paths) == {"root", "from", "nodes", "edges"}
    assert set(walk["page"]) >= {"total", "offset", "limit"}
    flags = _api(server, "/api/v1/flags")
    assert {"target", "reason"} <= set(flags[0])

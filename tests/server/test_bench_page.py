"""The bench page: runs saved by `edgesplit bench` are listed by the server and shown in the UI."""

from edge.bench_server import load_runs, save_report


def test_saved_runs_are_served_newest_first(start_server, tmp_path):
    first = save_report([{"model": "default", "backend": "llamacpp", "decode_tok_s": 40.0}], 20.0, [])
    second = save_report([{"model": "m2", "backend": "onnxruntime", "decode_tok_s": 30.0}], 21.0, ["note"])
    (first.parent / "broken.json").write_text("{not json")  # ignored, not fatal
    assert [r["id"] for r in load_runs()] == [second.stem, first.stem]
    live = start_server(apps={"bench": "edge.bench_server"})
    with live.client() as c:
        runs = c.get("/v1/apps/bench/runs").json()["runs"]
        page = c.get("/apps/bench/")
    assert [r["rows"][0]["model"] for r in runs] == ["m2", "default"]
    assert page.status_code == 200 and "/v1/apps/bench/runs" in page.text

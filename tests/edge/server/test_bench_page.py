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


def test_compare_lays_out_runs_with_host_facts(start_server):
    from tests.edge.test_bench import other_host_run

    old = save_report([{"model": "default", "decode_tok_s": 40.0}], 20.0, [])  # no host facts: not comparable
    pi = other_host_run()
    emu = other_host_run("vm", emulated="raspberry-pi-4")
    pi_path = save_report(pi["rows"], 9.1, [], pi["host"])
    emu_path = save_report(emu["rows"], 9.1, [], emu["host"])
    live = start_server(apps={"bench": "edge.bench_server"})
    with live.client() as c:
        every = c.get("/v1/apps/bench/compare").json()
        one = c.get("/v1/apps/bench/compare", params={"ids": pi_path.stem}).json()
        huge = c.get("/v1/apps/bench/compare", params={"ids": "x" * 5000})
    assert set(every["runs"]) == {pi_path.stem, emu_path.stem} and old.stem not in every["runs"]
    assert [r["emulated"] for r in every["rows"]] == [False, True]  # measured first, emulated after
    assert one["runs"] == [pi_path.stem] and one["rows"][0]["host"].startswith("pi5")
    assert huge.status_code == 400 and "error" in huge.json()  # a clear error, not a crash

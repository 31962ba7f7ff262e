"""`edgesplit serve`: the local OpenAI-compatible server and web UI."""

from __future__ import annotations

import functools
import socket
import sys

import click

from ..errors import EdgeError
from .options import speculative_option


class ServeError(EdgeError):
    """The server cannot start as asked."""


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind. Anything but loopback requires --token.")
@click.option("--port", type=int, default=8080, show_default=True, help="Port (0 = any free port).")
@click.option("-m", "--model", "models", multiple=True, default=("default",), show_default=True,
              help="Model to serve (repeatable; the first is the default). Bundles in "
                   "$EDGESPLIT_HOME/models are served by name too.")
@click.option("--profile", default=None, help="Hardware profile the models load with.")
@click.option("-t", "--threads", type=click.IntRange(min=1), default=None,
              help="CPU threads per model (default: the profile's, or the physical cores).")
@click.option("--token", envvar="EDGESPLIT_TOKEN", default=None,
              help="Require `Authorization: Bearer TOKEN` on the API (env EDGESPLIT_TOKEN).")
@click.option("--cors-origin", "cors_origins", multiple=True,
              help="Allow browser requests from this origin (repeatable). CORS is off by default.")
@click.option("--max-queue", type=click.IntRange(min=0), default=16, show_default=True,
              help="Requests that may wait per model beyond the running one; more get HTTP 429.")
@click.option("--max-loaded", type=click.IntRange(min=0), default=3, show_default=True,
              help="Models kept loaded at once; loading another unloads the least recently used idle one "
                   "(0: no limit).")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=300.0, show_default=True,
              help="Seconds a request may take, queue wait included; then HTTP 504.")
@click.option("--max-body-kb", type=click.IntRange(min=1), default=1024, show_default=True,
              help="Largest request body; larger gets HTTP 413.")
@click.option("--max-tokens-limit", type=click.IntRange(min=1), default=4096, show_default=True,
              help="Most tokens one request may generate (larger max_tokens are clamped).")
@click.option("--header-timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="Seconds a client may take to send a request's headers; then the connection is closed.")
@click.option("--body-timeout", type=click.FloatRange(min=0.1), default=60.0, show_default=True,
              help="Seconds a client may take to send a request's body after its headers; then it is closed.")
@click.option("--max-connections", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Open connections and running requests at most; more get HTTP 503.")
@speculative_option()
@click.option("--log-level", type=click.Choice(["critical", "error", "warning", "info", "debug"]),
              default="warning", show_default=True)
def serve(host, port, models, profile, threads, token, cors_origins, max_queue, max_loaded, timeout, max_body_kb,
          max_tokens_limit, header_timeout, body_timeout, max_connections, speculative, log_level):
    """Serve models over an OpenAI-compatible HTTP API, with a web UI at the printed URL.

    Endpoints: /v1/models, /v1/chat/completions, /v1/completions (streaming SSE,
    response_format json_object / json_schema), /health, /metrics, app routes under /v1/apps.
    Binds 127.0.0.1 unless told otherwise; any other address needs --token. Every model decodes
    speculatively (--speculative auto, lossless) unless --speculative off or the profile says so.

    \b
    Examples:
      edgesplit serve
      edgesplit serve --port 9000 -m default -m my-bundle
      edgesplit serve --host 0.0.0.0 --token "$(openssl rand -hex 16)"
      edgesplit serve --profile raspberry-pi-5 --max-queue 4 --timeout 60
      edgesplit serve --speculative off
      curl http://127.0.0.1:8080/v1/chat/completions -H 'Content-Type: application/json' \\
        -d '{"messages": [{"role": "user", "content": "Hi"}], "stream": true}'
    """
    import uvicorn

    from ..server import create_app
    from ..server.protocol import with_deadlines
    from ..server.security import is_loopback

    if not is_loopback(host) and not token:
        raise ServeError(f"binding to {host} exposes the server to the network: pass --token (or set "
                         "EDGESPLIT_TOKEN), or bind 127.0.0.1")
    sock = _bind(host, port)
    app = create_app(models, profile, token, max_queue=max_queue, timeout=timeout, max_body_bytes=max_body_kb * 1024,
                     cors_origins=cors_origins, max_tokens_limit=max_tokens_limit, threads=threads,
                     preload=True, max_loaded=max_loaded, **_loader(speculative))
    url = _url(host, sock.getsockname()[1])
    click.echo(f"edgesplit: serving {models[0]} at {url}  (web UI at {url}/, API at {url}/v1; Ctrl-C stops)")
    sys.stdout.flush()
    # slow or half-sent requests are cut off (edge.server.protocol); uvicorn alone waits forever
    config = uvicorn.Config(app, log_level=log_level, access_log=log_level in ("info", "debug"),
                            timeout_graceful_shutdown=5, http=with_deadlines(header_timeout, body_timeout),
                            limit_concurrency=max_connections)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises Ctrl-C after its graceful shutdown
        pass
    click.echo("edgesplit: server stopped", err=True)


def _loader(speculative: str | None) -> dict:
    """create_app's model loader with --speculative applied (the server, and so every app, runs with it)."""
    if speculative is None:
        return {}
    from ..server.workers import load_engine

    return {"loader": functools.partial(load_engine, speculative=speculative)}


def _bind(host: str, port: int) -> socket.socket:
    """Bind first, so a busy port is a one-line error, and --port 0 can print the real port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise ServeError(f"cannot listen on {host}:{port}: {exc.strerror}; pick another --port or --host") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def _url(host: str, port: int) -> str:
    shown = f"[{host.strip('[]')}]" if ":" in host else host
    return f"http://{shown}:{port}"

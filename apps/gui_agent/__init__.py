"""GUI automation by on-device code generation (in the style of AutoDroid-V2).

The local model reads an app's documentation (doc.py) and writes a short script in a DSL
(script.py) that a sandboxed AST interpreter (interp.py) runs against a UI environment
(env.py) over simulated apps built from uiautomator XML (sim/). agent.py is the plan -> script
-> execute -> repair loop; bench.py the task benchmark; cli.py and server.py the front ends.
"""

from .agent import AgentRun, execute, solve
from .bench import load_tasks, run_bench
from .errors import AppDocError, GuiAgentError, ScriptError
from .sim import APPS, app_doc, load_app

__all__ = ["APPS", "AgentRun", "AppDocError", "GuiAgentError", "ScriptError", "app_doc", "execute", "load_app",
           "load_tasks", "run_bench", "solve"]

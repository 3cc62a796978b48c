"""The errors a user's input can raise, in a module light enough for every command to import:
the CLI turns each into one line and exit status 2."""


class SuiteError(ValueError):
    """A suite or hyper-parameter file that cannot be run; names the file, the key and the fix."""


class ResultsError(ValueError):
    """A broken results file; the message names it."""


class AgentError(ValueError):
    """An agent that cannot be built or loaded (a file that is not an SB3 model, a factory that
    fails); the message names the agent."""


class Interrupted(Exception):
    """Ctrl-C during a suite: the workers are stopped; ``finished`` runs are kept."""

    def __init__(self, finished: int):
        super().__init__(f"interrupted: {finished} runs finished, rerun to resume")
        self.finished = finished


# The attribute the agent registry sets on an agent built by a user's ``module:factory``: the
# entry point as the user typed it, which errors name (the class alone may not say whose it is).
ENTRY_ATTR = "mesa_maze_entry"


def agent_label(agent) -> str:
    """How an error names an agent: ``'name'`` (its ``name``, else its class), or, for an agent
    built from a ``module:factory``, ``'module:factory' (name)``."""
    name = getattr(agent, "name", None) or type(agent).__name__
    entry = getattr(agent, ENTRY_ATTR, None)
    return f"{entry!r} ({name})" if entry and entry != name else repr(name)

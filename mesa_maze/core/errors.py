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

"""Models composed from ``mytorch.nn`` layers. Each submodule defines ``__all__``."""
from .mlp import *  # noqa: F401,F403
from .cnn import *  # noqa: F401,F403
from .scanning_mlp import *  # noqa: F401,F403
from .rnn_classifier import *  # noqa: F401,F403
from .char_predictor import *  # noqa: F401,F403
from .transformer import *  # noqa: F401,F403

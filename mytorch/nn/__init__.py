"""Layers, activations and losses. Each submodule defines ``__all__``."""
# MLP part
from .linear import *  # noqa: F401,F403
from .activation import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from .batchnorm import *  # noqa: F401,F403
from .dropout import *  # noqa: F401,F403
# CNN part
from .resampling import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .conv_transpose import *  # noqa: F401,F403
from .pool import *  # noqa: F401,F403
from .flatten import *  # noqa: F401,F403
# RNN part
from .rnn_cell import *  # noqa: F401,F403
from .gru_cell import *  # noqa: F401,F403
from .ctc import *  # noqa: F401,F403
# attention part
from .attention import *  # noqa: F401,F403
from .layernorm import *  # noqa: F401,F403
from .positional_encoding import *  # noqa: F401,F403

"""Teaching tools the chapters and exercises use.

* :mod:`~companion.teaching.gradcheck` – finite-difference gradient checks
* :mod:`~companion.teaching.descent` – gradient descent on 2-D functions
* :mod:`~companion.teaching.regression` – stochastic and minibatch gradient descent
  on linear regression
* :mod:`~companion.teaching.surfaces` – the 2-D test functions
* :mod:`~companion.teaching.checks` – instant feedback for exercises (comparisons in
  :mod:`~companion.teaching.compare`, short answers in :mod:`~companion.teaching.answers`)
* :mod:`~companion.teaching.source` – show the package's code in a chapter
* :mod:`~companion.teaching.timing` – a convolution's time against its work
* :mod:`~companion.teaching.winograd` – Winograd's minimal filtering, a 3 x 3
  convolution with fewer multiplications (chapter 8)
* :mod:`~companion.teaching.explorers` – the data of the interactive figures of
  chapters 7-9 (which cells a gradient reaches), rendered as HTML by
  :mod:`~companion.teaching.explorer_html`
* :mod:`~companion.teaching.graph_explorer` – chapter 5's interactive computational
  graph (values forward, gradients backward), rendered by
  :mod:`~companion.teaching.graph_explorer_html`
"""

from companion.teaching.gradcheck import (
    numerical_gradient,
    numerical_gradient_array,
    relative_error,
)
from companion.teaching.descent import (
    Trajectory,
    gradient_descent,
)
from companion.teaching.regression import (
    least_squares_loss_and_grad,
    minibatch_indices,
    SGDHistory,
    sgd_linear_regression,
)
from companion.teaching.surfaces import (
    Surface,
    QuadraticBowl,
    Rosenbrock,
    DoubleWell,
)
from companion.teaching.checks import (
    CheckFailure,
    Case,
    check_function,
)
from companion.teaching.answers import (
    answer_digest,
    check_answer,
)
from companion.teaching.source import (
    show_source,
)
from companion.teaching.timing import (
    CONV_SCALING_CASES,
    best_time,
    cpu_name,
    measure_conv_scaling,
)
from companion.teaching.winograd import (
    WinogradTransforms,
    winograd_conv2d,
    winograd_multiplications,
    winograd_transforms,
)
from companion.teaching.explorers import (
    EXPLORERS,
    conv_terms,
    explorer_data,
    explorer_links,
    pool_terms,
)
from companion.teaching.explorer_html import (
    explorer_html,
    show_explorer,
)
from companion.teaching.graph_explorer import (
    GRAPH_EXPLORER,
    graph_backward,
    graph_data,
    graph_forward,
    graph_links,
)
from companion.teaching.graph_explorer_html import (
    graph_html,
    show_graph,
)

__all__ = [
    "CONV_SCALING_CASES",
    "Case",
    "CheckFailure",
    "DoubleWell",
    "EXPLORERS",
    "GRAPH_EXPLORER",
    "QuadraticBowl",
    "Rosenbrock",
    "SGDHistory",
    "Surface",
    "Trajectory",
    "WinogradTransforms",
    "answer_digest",
    "best_time",
    "check_answer",
    "check_function",
    "conv_terms",
    "cpu_name",
    "explorer_data",
    "explorer_html",
    "explorer_links",
    "gradient_descent",
    "graph_backward",
    "graph_data",
    "graph_forward",
    "graph_html",
    "graph_links",
    "least_squares_loss_and_grad",
    "measure_conv_scaling",
    "minibatch_indices",
    "numerical_gradient",
    "numerical_gradient_array",
    "pool_terms",
    "relative_error",
    "sgd_linear_regression",
    "show_explorer",
    "show_graph",
    "show_source",
    "winograd_conv2d",
    "winograd_multiplications",
    "winograd_transforms",
]

"""companion: the NumPy + Numba implementation behind the course
*Backpropagation in Convolutional Neural Networks*.

Every chapter of the book imports this package; the book shows its code and
never copies it. Modules, one per concept:

* :mod:`companion.losses` – loss functions, each returning value and gradient
* :mod:`companion.softmax` – softmax, its Jacobian and Jacobian-vector product
* :mod:`companion.gradcheck` – finite-difference gradient checking
"""
__version__ = "0.1.0"

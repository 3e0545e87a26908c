"""What every answer goes through, below training and everything that answers: the
model's input, its forward function, the views an answer averages (one `tta` level), the
answer probabilities, "not sure", and fmnist's own Keras layer.

    >>> import numpy as np
    >>> from fmnist.inference.answers import answer_probabilities, forward_function
    >>> from fmnist.training.models import create_model
    >>> images = np.zeros((2, 28, 28), np.uint8)
    >>> plain, answered = answer_probabilities(forward_function(create_model("mlp")), images, 1)
    >>> answered.shape
    (2, 10)

- `answers`: the input convention, the traced forward function, the test-time views
  (`tta`: 0 none, 1 the mirror image, 2 the mirror image and one-pixel shifts) and the
  probabilities averaged over them.
- `unsure`: when an answer is "not sure": the threshold rules and the one test.
- `layers`: the custom layer a saved model may hold, registered so that it loads.
"""

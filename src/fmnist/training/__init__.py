"""Training: the model zoo and its recipes, the config, `train(config)` -> a run folder.

- `models`: the registry (`create_model`, `list_models`) and each model's recipe.
- `config`: `TrainConfig`, config files and flags.
- `train`: `train` and `resume`; `callbacks` and `augment` serve it.
- `photo_learning`: Fashion-MNIST and labelled photos learned together.
"""

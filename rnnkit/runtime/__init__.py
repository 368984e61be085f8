"""The runtime of a training run: the Trainer (train.py), run folders and checkpoints (checkpoint.py), devices,
precision and torch.distributed (distributed.py), batches on their way to a device (batches.py), TensorBoard
event files (tensorboard.py)."""

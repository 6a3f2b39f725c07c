"""Training one trial: optimizers, batch augmentation, device and precision, the pure loop,
checkpoints, the Ray trainable."""

"""airbench-cpu: a CPU-scale Airbench96 analogue (time to a gated accuracy on MNIST-1D)."""

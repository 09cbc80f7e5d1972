"""KellerJordan/cifar10-airbench airbench96: time per cold run, gated on mean accuracy."""

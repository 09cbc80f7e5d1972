"""karpathy/nanochat base training at depth 12: the CORE metric at the last step."""

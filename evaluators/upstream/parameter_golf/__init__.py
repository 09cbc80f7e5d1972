"""openai/parameter-golf: train_gpt.py under torchrun, val_bpb, a 16,000,000 B artifact."""

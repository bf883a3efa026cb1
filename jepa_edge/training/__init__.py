"""Training: pretrain (I-JEPA / V-JEPA), distill (V-JEPA 2.1), train-ac, and the loop, checkpoints and DDP they share."""

"""The GAN training core: losses, bound schedule, step, loop with hooks, EMA, DGL, DDP helpers, sparsity."""

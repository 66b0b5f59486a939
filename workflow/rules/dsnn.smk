# Study: dual-sampling neural network (filled in by its issue).

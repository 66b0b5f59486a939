# Study: Fisher information of random deep networks (filled in by its issue).

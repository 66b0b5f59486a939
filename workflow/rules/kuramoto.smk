# Study: Kuramoto oscillators on circulant networks (filled in by its issue).

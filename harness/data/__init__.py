"""Datasets: where they live, what their official files are, how they are checked and loaded."""

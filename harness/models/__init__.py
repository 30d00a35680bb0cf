"""Model blocks shared by the papers (MLPs, interactions, multi-task architectures, embeddings)."""

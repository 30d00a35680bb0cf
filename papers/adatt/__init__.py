"""AdaTT (Li et al., KDD'23): adaptive task-to-task fusion, reproduced on UCI Census-Income (KDD)."""

"""DLRM (Naumov et al. 2019): the family's baseline, reproduced on Criteo Kaggle with the facebookresearch/dlrm protocol."""

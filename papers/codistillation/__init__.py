"""Reproduction of Anil et al., "Large Scale Distributed Neural Network Training through Online Distillation" (ICLR'18)."""

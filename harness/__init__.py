"""Shared parts of every reproduction: data, model blocks, training, metrics.

Imports point one way: papers use the harness, the harness never
imports a paper or the CLI.
"""

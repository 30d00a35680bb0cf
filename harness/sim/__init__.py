"""Discrete-event simulation of training clusters: the event engine (:mod:`.events`), service times measured
on this machine or declared from a paper (:mod:`.service`), and data-parallel training with a
synchronisation model (:mod:`.training`), and a job under checkpoints and failures with full or partial
recovery (:mod:`.recovery`).
"""

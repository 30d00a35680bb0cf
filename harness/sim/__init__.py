"""Discrete-event simulation of training clusters: the event engine (:mod:`.events`), service times measured
on this machine or declared from a paper (:mod:`.service`), and data-parallel training with a
synchronisation model (:mod:`.training`).
"""

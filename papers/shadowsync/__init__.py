"""ShadowSync (Zheng et al., arXiv 2003.03477 v3): synchronisation in background threads, against foreground sync."""

"""The Slack front end (slack-bolt): videos in, picks in the thread, refinement by reply.

``app`` builds and runs it; ``listeners/<kind>/`` hold one plain function per Slack
request kind, registered by ``listeners.register(app)``. Nothing here imports torch.
"""

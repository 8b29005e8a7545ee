"""Writes of the rating app, one module per concern: ``rounds`` (responses to rate, rounds, their
items, QC exclusions), ``leasing`` (the queue's leases), ``judgements`` and ``invites``;
``errors`` holds the refusals they raise. The queue's query itself is ``webapp.rating.queue``,
which the selectors read too."""

# The consumer fixture's own tests run inside act, in the consumer repository, not here.
collect_ignore = ["consumer"]

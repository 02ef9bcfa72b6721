"""SageMaker resources, whichever backend serves them: how an endpoint config, a blue/green
rollout, autoscaling, a monitoring schedule or a registry entry is shaped, as small typed values
with `to_request()`, and the one place each is awaited. Stages build on this layer; it speaks to
a backend only through the port (smgha.backends) and never imports the runner or a stage.
"""

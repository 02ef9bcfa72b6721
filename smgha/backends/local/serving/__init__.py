"""The inference server of one local endpoint: the built-in XGBoost container's contract, and
script mode (the container's Environment names an inference script, served through the
inference toolkit's handlers in a worker process per model: script_model.py, worker.py).

    python -m smgha.backends.local.serving <endpoint folder>

One long-lived process hosts every production variant of the endpoint and routes each
request to one of them by weight, as SageMaker's front end does for the instances behind an
endpoint. It talks to its controller (deployer.py) through files in the endpoint folder:

``serving.json``, written atomically by the controller at any time::

    {"EndpointName": "churn-staging",
     "Variants": [{"VariantName": "blue-3", "ModelDataPath": "/abs/model.tar.gz", "Weight": 90.0,
                   "Environment": {"SAGEMAKER_PROGRAM": ""}, "Image": "<image URI>"},
                  ...],
     "DataCapture": {"Enabled": true, "SamplingPercentage": 100, "Destination": "/abs/dir",
                     "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"],
                                                  "JsonContentTypes": ["application/json"]},
                     "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]}}

    (A serverless variant also has "Serverless": {"MemorySizeInMB", "MaxConcurrency",
    "ProvisionedConcurrency"}: it scales to zero and takes at most MaxConcurrency requests at
    once, see serverless.py. A shadow variant also has "ShadowOf": the name of the production
    variant a sampled share of whose requests it gets copies of, its Weight relative to
    that variant's giving the share; it never takes traffic of its own, see mirror.py.
    DataCapture and its CaptureContentTypeHeader and CaptureOptions are optional, and so is a
    variant's Environment: the container's, which decides script mode as the container does,
    see smgha/serving_container.py, and its Image, which picks the framework container's
    default handlers for a script, see script_handlers.py.) The server
    re-reads it when it changes (a background thread compares its stat every 0.2 s) and at once
    on SIGHUP. New or changed models load while the previous routing keeps serving; the new
    routing (weights, variants, capture) replaces it in one step once they have loaded, and
    removed variants are dropped then. A variant whose name, ModelDataPath, Environment and model
    file (mtime, size) are unchanged keeps its loaded model (and its failure, if it failed); a
    model rewritten in place is picked up on the next change of serving.json or SIGHUP.

``server.json``, written atomically once the port is bound and the variants loaded, removed
on SIGTERM/SIGINT: ``{"pid": 123, "port": 45678, "started": "<iso>"}``.

``server.lock``: held (flock) by the one server of the endpoint while it lives; a second
server started beside it exits with code 3 instead of serving too.

``server.log``: errors, and one line per start, configuration change, model load and stop
(never one per request).

HTTP, on 127.0.0.1 port $SMGHA_ENDPOINT_PORT (or an ephemeral port), HTTP/1.1 keep-alive:

    GET  /ping              200 (empty) when every variant with Weight > 0 is InService, else 503
    POST /invocations       text/csv or application/json in; text/csv or application/json out
                            (400 ThrottlingException: a serverless variant at MaxConcurrency)
    GET  /_smgha/variants   [{VariantName, Weight, Status, FailureReason, ModelDataPath}]
    GET  /_smgha/metrics    {"EndpointName", "Now", "Variants": {<name>: {"Invocations",
                            "Invocation4XXErrors", "Invocation5XXErrors" (cumulative),
                            "ModelLatency": [[epoch s, microseconds], ...] (the last 8192),
                            "Active"}}}; every variant hosted since start, Active if still hosted
    GET  /_smgha/metrics?since=<epoch s> (or ?window=<s>) [&variant=<name>]
                            the same counters over the window only (1 s resolution) and
                            "ModelLatency": {"SampleCount", "Complete", "Average", "Minimum",
                            "Maximum", "p50", "p90", "p99"} in microseconds (no statistics
                            when SampleCount is 0; Complete false when older samples are gone)
    GET  /_smgha/status     pid, port, health, data capture, why serving.json was not applied,
                            each serverless variant's capacity (warm, in flight, cold starts)

Standard library, numpy and xgboost only; xgboost is imported without scikit-learn (which
would pull in scipy.stats and pandas, ~2 s of start-up) and only when a model is loaded. A
script-mode model's code (and whatever it imports) runs only in its worker process, whose
stderr (the script's prints included) goes to the server's.

The modules, by responsibility: spec (serving.json), model (loading and predicting),
inference (the container's answer to one request), script_model (a script-mode model's source
and worker process), worker (the worker process), script_handlers (the framework containers'
default handlers), images (the images the local endpoint stands in for), metrics, routing (variants and weights),
capture (data capture files), mirror (copies to a shadow variant), serverless (a serverless variant's scale to zero), endpoint (reloads, invocations, the controller's views),
http_server (the handler and server), main (the process: arguments, lock, signals,
server.json); __main__ runs main.
"""

"""The smoke-test stage's parts before the rollback (smgha/stages/smoke_test.py sequences
them and writes what they give to the runner):

    payloads.py    the payload file's rows, an expected file, a row's request body
    functional.py  one checked call per row (the row checks), accuracy
    load.py        the threaded load test and its percentiles
    passes.py      SmokePlan (what is sent and judged), preflight, send(): both passes
    checks.py      every check of a run, from the passes' results; the threshold inputs
    report.py      SmokeResult, the JSON report, the summary's tables, the failing error

They never import smgha.runner or a stage.
"""

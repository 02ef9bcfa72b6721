"""The smoke-test stage's pure parts (smgha/stages/smoke_test.py sequences them):

    payloads.py    the payload file's rows, an expected file, a row's request body
    functional.py  one checked call per row (the row checks), accuracy
    load.py        the threaded load test and its percentiles
    checks.py      every check of a run, from the two passes' results

They never import smgha.runner or a stage: what reaches the runner goes through the stage.
"""

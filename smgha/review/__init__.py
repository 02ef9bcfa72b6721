"""The model review (issue 17): a pull request's candidate model against the champion.

    bundle.py    a registered model's review bundle: build, write, read (checked)
    profile.py   a data profile of the input data, and the shift (PSI) between two
    compare.py   the comparison: metrics, the gate's predicted verdict, segments, data, definition
    changes.py   the pipeline definition's diff (steps, code, parameter defaults)
    markdown.py  comment.md, summary.md, review.json
    pictures.py  the comment's Mermaid charts and report.html (drawn by curves, plots,
                 mermaid and html)
    champion.py  the champion: the bundle main's newest approved push build published
    comment.py   the pull request's one review comment, from an untrusted artifact
    github_cli.py  `smgha review fetch-champion` and `smgha review post-comment`

The command line is smgha/review_cli.py; docs/review.md tells the whole flow.
"""

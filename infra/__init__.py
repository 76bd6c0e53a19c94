"""The supervision stack as a CDK app, and the template synthesized from it.

Importing this package needs no CDK: a plain `wb` install reads the shipped template through
`weatherballoon.infra.shipped_template`. The CDK modules (`app`, `stack`, constructs, `build`) need the `infra` extra.
"""

"""The supervision model and the reaper Lambda (DESIGN §5).

Everything here except `reaper` (the Lambda handler, which needs Powertools), `dynamo_store` and
`ec2_fleet` (which need boto3) imports on python 3.8 with the standard library only: the agent on each
instance imports the schema and the lease rules. Nothing here creates an AWS client at import time.
"""

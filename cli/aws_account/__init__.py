"""The AWS account the team shares, as the client sees it: one session factory and error translation (the aws
provider uses both), and the supervision stack deployed in the account: `wb bootstrap` (plan, deploy, destroy),
`wb doctor` and its live first contact, `wb costs` and `wb budget` (the ledger). The machines themselves are
the provider's (`cli/providers/aws`). boto3 is imported only when a client is first built."""

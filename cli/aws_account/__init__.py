"""AWS for the client: one session factory, error translation, and the supervision stack's control plane
(bootstrap, budgets, costs, doctor). boto3 is imported only when a client is first built."""

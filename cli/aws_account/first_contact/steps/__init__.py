"""The steps of a first-contact run, one per module. Each takes the `RunContext`, returns a one-line detail
(or a `StepOutcome` when it measured a fault), and raises `StepFailed` when what it checks does not hold."""

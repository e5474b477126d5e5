"""The Report Generation Agent: its section vocabulary, feedback store and section learner."""
